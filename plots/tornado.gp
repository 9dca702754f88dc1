# A sensitivity study's tornado: per hardware figure, how the faster
# layout's lead moves (ms, from the lead at the given figures) with the
# figure lower (blue) and higher (orange); the dashed line is where the lead
# is gone and the ranking flips. The largest swing is at the top.
# usage: gnuplot -c tornado.gp DATA OUTPUT TITLE MARGIN_MS [png|svg]
# DATA is a clustersim tornado.dat: label, low - base (ms), high - base (ms).
data = ARG1
term = (ARGC >= 5) ? ARG5 : "png"
if (term eq "svg") {
    set terminal svg size 1000,560 dynamic font "sans,10"
} else {
    set terminal pngcairo size 1100,600 font "sans,10"
}
set output ARG2
set title ARG3 noenhanced
margin = real(ARG4)
set xlabel sprintf("change of the lead (ms); the lead is %.1f ms, gone at -%.1f", margin, margin)
set style fill solid 0.9 border rgb "#444444"
set grid xtics
set key outside right top noenhanced
set offsets 0, 0, 0.5, 0.5
set ytics noenhanced
set arrow 1 from first 0, graph 0 to first 0, graph 1 nohead lc rgb "#444444"
set arrow 2 from first -margin, graph 0 to first -margin, graph 1 nohead dt 2 lw 2 lc rgb "#C44E52"
set label 1 "ranking flips" at first -margin, graph 1 offset 0.5, -1 textcolor rgb "#C44E52"
set xrange [*:*]
plot data using ($2 / 2):0:(abs($2) / 2):(0.35):ytic(1) with boxxyerror lc rgb "#4C72B0" title "figure lower", \
     data using ($3 / 2):0:(abs($3) / 2):(0.35) with boxxyerror lc rgb "#DD8452" title "figure higher"
