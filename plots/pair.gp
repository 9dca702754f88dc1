# Why one layout is faster than another: the difference of iteration time
# (the second layout's less the first's, ms) split into where the GPUs'
# time goes, a bar per kind (positive: the second spends more), and the
# difference itself with its 95% interval over the paired replays.
# usage: gnuplot -c pair.gp DATA OUTPUT TITLE [png|svg]
# DATA is a clustersim pairN.dat: block 0 the kinds (name, ms), block 1 the
# difference (name, mean ms, low, high).
data = ARG1
term = (ARGC >= 4) ? ARG4 : "png"
if (term eq "svg") {
    set terminal svg size 1000,520 dynamic font "sans,10"
} else {
    set terminal pngcairo size 1100,560 font "sans,10"
}
set output ARG2
set title ARG3 noenhanced
set ylabel "second layout less the first (ms)"
set style fill solid 0.9 border rgb "#444444"
set boxwidth 0.6
set grid ytics
set xzeroaxis lt -1
set key outside right top noenhanced
set xtics noenhanced
set offsets 0.5, 0.5, graph 0.06, graph 0.06
plot data index 0 using 0:2:xtic(1) with boxes lc rgb "#4C72B0" title "its parts", \
     data index 1 using (8):2:3:4:xtic(1) with yerrorbars pt 7 ps 1.5 lw 2 lc rgb "#C44E52" title "the difference, 95% interval"
