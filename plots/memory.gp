# Memory over the iteration: the captured GPU with the highest total as a
# stacked area by kind (weights, gradients, optimizer state, reserved,
# activations, communication buffers), every other captured GPU's total as a
# line, the GPU's capacity as a line and the peak marked.
# usage: gnuplot -c memory.gp DATA OUTPUT TITLE CAPACITY_GB PEAK_MS PEAK_GB GPUS [png|svg [BLOCK]]
# DATA is a clustersim memory.dat: one block per GPU (its name on the first
# line), rows of time (ms), total, weights, gradients, optimizer, reserved,
# activations and buffers (GB). BLOCK: the block drawn stacked (default 0).
data = ARG1
term = (ARGC >= 8) ? ARG8 : "png"
if (term eq "svg") {
    set terminal svg size 1200,600 dynamic font "sans,10"
} else {
    set terminal pngcairo size 1400,640 font "sans,10"
}
set output ARG2
set title ARG3 noenhanced
capacity = real(ARG4)
peak_ms = real(ARG5)
peak_gb = real(ARG6)
gpus = int(ARG7)
b = (ARGC >= 9) ? int(ARG9) : 0
set xlabel "time (ms)"
set ylabel "memory (GB)"
# the capacity on the scale when the peak comes within a third of it; else
# the scale fits the peak and a label gives the capacity
top = (peak_gb * 1.5 < capacity) ? peak_gb * 1.3 : capacity * 1.08
set yrange [0:top]
if (top < capacity) {
    set label 2 sprintf("GPU memory %.0f GB, above the scale", capacity) at graph 0.99, graph 0.95 right textcolor rgb "#C44E52"
}
set key outside right top noenhanced
set grid
set style fill solid 0.85 noborder
set label 1 sprintf("peak %.2f GB", peak_gb) at peak_ms, peak_gb offset 1, 1
kinds = "weights gradients optimizer reserved activations buffers"
colours = "#4C72B0 #55A868 #8172B2 #BBBBBB #DD8452 #C44E52"
# the sum of columns 3 .. 3 + k - 1 of a row (the stack below kind k)
below(k) = (k >= 1 ? column(3) : 0) + (k >= 2 ? column(4) : 0) + (k >= 3 ? column(5) : 0) + \
           (k >= 4 ? column(6) : 0) + (k >= 5 ? column(7) : 0) + (k >= 6 ? column(8) : 0)
plot for [k=0:5] data index b using 1:(below(k)):(below(k + 1)) with filledcurves \
         lc rgb word(colours, k + 1) title word(kinds, k + 1), \
     for [i=0:gpus-1] data index i using 1:2 with steps lw (i == b ? 2 : 1) \
         lc rgb (i == b ? "black" : "#777777") title columnheader(1), \
     capacity with lines dt 2 lw 2 lc rgb "#C44E52" title sprintf("GPU memory %.0f GB", capacity), \
     "+" using (peak_ms):(peak_gb) every ::0::0 with points pt 7 ps 1.5 lc rgb "black" title "peak"
