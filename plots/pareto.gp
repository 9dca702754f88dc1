# A search's candidates: iteration time against memory per GPU, the Pareto
# front (time x memory x GPUs) highlighted, the best few labelled.
# usage: gnuplot -c pareto.gp DATA OUTPUT TITLE CAPACITY_GB [png|svg]
# DATA is a clustersim pareto.dat: block 0 every fitting evaluated candidate
# (memory GB, time s), block 1 the front (memory GB, time s, rank), block 2
# the best by the objective (memory GB, time s, "1 name").
data = ARG1
term = (ARGC >= 5) ? ARG5 : "png"
if (term eq "svg") {
    set terminal svg size 1100,700 dynamic font "sans,10"
} else {
    set terminal pngcairo size 1100,700 font "sans,10"
}
set output ARG2
set title ARG3 noenhanced
capacity = real(ARG4)
set xlabel "memory peak per GPU (GB)"
set ylabel "iteration time (s)"
if (capacity > 0) { set xrange [0:capacity * 1.05] } else { set xrange [0:*] }
set yrange [0:*]
set grid
set key inside left top opaque noenhanced
if (capacity > 0) {
    set arrow 1 from first capacity, graph 0 to first capacity, graph 1 nohead dt 2 lw 2 lc rgb "#C44E52"
    set label 1 sprintf("GPU memory %.0f GB", capacity) at first capacity, graph 0.97 right offset -0.5, 0 textcolor rgb "#C44E52"
}
plot data index 0 using 1:2 with points pt 7 ps 0.6 lc rgb "#AAAAAA" title "candidates (fit)", \
     data index 1 using 1:2 with points pt 7 ps 1.2 lc rgb "#4C72B0" title "Pareto front (time x memory x GPUs), labelled with its rank", \
     data index 1 using 1:2:3 with labels offset 0.8, 0 left font "sans,8" textcolor rgb "#4C72B0" notitle, \
     data index 2 using 1:2:3 with labels point pt 6 ps 2 lc rgb "#DD8452" offset 1, -0.8 left noenhanced font "sans,9" title "the best"
