# A sweep's metric against its swept values.
# usage: gnuplot -c sweep.gp DATA OUTPUT TITLE YLABEL lines LAYOUTS XLABEL [png|svg]
#        gnuplot -c sweep.gp DATA OUTPUT TITLE ZLABEL heatmap BLOCK XLABEL YLABEL [png|svg]
# DATA is a clustersim sweep.dat. lines: one block per layout (its name on the
# first line), rows: index, value as written, mean (or value), p5, p95; error
# bars span p5 to p95 when the sweep repeats. heatmap: block BLOCK holds one
# layout's grid over the first two swept parameters: i, j, value.
data = ARG1
mode = ARG5
if (mode eq "lines") { term = (ARGC >= 8) ? ARG8 : "png" } else { term = (ARGC >= 9) ? ARG9 : "png" }
if (term eq "svg") {
    set terminal svg size 1100,600 dynamic font "sans,10"
} else {
    set terminal pngcairo size 1100,640 font "sans,10"
}
set output ARG2
set title ARG3 noenhanced
set grid
if (mode eq "lines") {
    set xlabel ARG7 noenhanced
    set ylabel ARG4 noenhanced
    set key outside right top noenhanced
    set offsets 0.3, 0.3, 0, 0
    set yrange [0:*]  # from 0, so that differences look as large as they are
    layouts = int(ARG6)
    plot for [i=0:layouts-1] data index i using 1:3:4:5:xtic(2) with yerrorlines lw 2 pt 7 title columnheader(1)
} else {
    set xlabel ARG7 noenhanced
    set ylabel ARG8 noenhanced
    set cblabel ARG4 noenhanced
    set view map
    set palette defined (0 "#2c7bb6", 0.5 "#ffffbf", 1 "#d7191c")
    plot data index int(ARG6) using 1:2:3 with image notitle
}
