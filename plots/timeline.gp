# Pipeline timeline: one row per captured GPU (one per stage by default), its
# compute stream op by op and each gap coloured by what it waited for.
# usage: gnuplot -c timeline.gp DATA OUTPUT TITLE [png|svg [LABELS [FROM_MS TO_MS]]]
# DATA is a clustersim timeline.dat: row, row label, kind, kind name,
# start (ms), end (ms), micro-batch, layer, bar label. LABELS: how many bars
# carry a label (0: none, and the data are read once instead of twice).
data = ARG1
term = (ARGC >= 4) ? ARG4 : "png"
if (term eq "svg") {
    set terminal svg size 1400,600 dynamic font "sans,10"
} else {
    set terminal pngcairo size 1600,640 font "sans,10"
}
set output ARG2
set title ARG3 noenhanced
names = "forward backward_input backward_weight recompute optimizer tp_exposed ep_exposed pp_exposed dp_exposed cp_exposed bubble"
colours = "#4C72B0 #55A868 #8172B2 #CCB974 #64B5CD #DD8452 #C44E52 #937860 #DA8BC3 #8C8C00 #DDDDDD"
set xlabel "time (ms)"
labels = (ARGC >= 5) ? int(ARG5) : 1
if (ARGC >= 7) { set xrange [real(ARG6):real(ARG7)] }
set yrange [*:*] reverse
set offsets 0, 0, 0.6, 0.6
set key outside bottom center horizontal noenhanced
set grid xtics
set style fill solid 1.0 noborder
# One pass over the data (a run of many micro-batches writes a large file):
# each bar takes its kind's colour from rgb (the colours above, as numbers);
# the key comes from keyentry lines. Only the rows that carry a label are
# given to `with labels` (an empty label costs as much to lay out as a full
# one: drawing all of them took two thirds of a large timeline's time), and
# without LABELS the data are not read for them at all (gnuplot reads a file
# even for an empty `for`, a tenth of a large timeline's time).
array rgb[11] = [0x4C72B0, 0x55A868, 0x8172B2, 0xCCB974, 0x64B5CD, 0xDD8452, 0xC44E52, 0x937860, 0xDA8BC3, 0x8C8C00, 0xDDDDDD]
bars = "data using ((column(5) + column(6)) / 2):1:((column(6) - column(5)) / 2):(0.38):(rgb[int(column(3)) + 1]):ytic(2) with boxxyerror lc rgb variable notitle, for [k=0:10] keyentry with boxes lc rgb word(colours, k + 1) title word(names, k + 1)"
if (labels > 0) {
    plot @bars, \
         data using (strlen(strcol(9)) ? (column(5) + column(6)) / 2 : NaN):1:9 \
             with labels font ",7" textcolor rgb "white" notitle
} else {
    plot @bars
}
