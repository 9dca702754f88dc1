# Layouts side by side: one stacked bar per layout (compute, exposed TP, EP,
# PP, DP, CP communication, bubble: time per GPU), the iteration-time target as a
# line.
# usage: gnuplot -c compare.gp DATA OUTPUT TITLE TARGET_MS [png|svg]
# DATA is a clustersim compare.dat (TARGET_MS < 0: no target).
data = ARG1
term = (ARGC >= 5) ? ARG5 : "png"
if (term eq "svg") {
    set terminal svg size 1000,600 dynamic font "sans,10"
} else {
    set terminal pngcairo size 1100,640 font "sans,10"
}
set output ARG2
set title ARG3 noenhanced
target = real(ARG4)
colours = "#4C72B0 #DD8452 #C44E52 #937860 #DA8BC3 #8C8C00 #DDDDDD"
set style data histograms
set style histogram rowstacked
set style fill solid 1.0 border rgb "#444444"
set boxwidth 0.6
set ylabel "time per GPU (ms)"
set yrange [0:*]
set key outside right top noenhanced
set grid ytics
if (target > 0) {
    set arrow 1 from graph 0, first target to graph 1, first target nohead dt 2 lw 2 lc rgb "#C44E52"
    set label 1 sprintf("target %.1f ms", target) at graph 0.01, first target offset 0, 0.7 textcolor rgb "#C44E52"
}
plot for [k=2:8] data using k:xtic(1) title columnheader(k) lc rgb word(colours, k - 1)
