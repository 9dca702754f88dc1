# Memory over the iteration: one line per captured GPU, the GPU's capacity as
# a line and the peak marked.
# usage: gnuplot -c memory.gp DATA OUTPUT TITLE CAPACITY_GB PEAK_MS PEAK_GB GPUS [png|svg]
# DATA is a clustersim memory.dat: one block per GPU (its name on the first
# line), time (ms) and GB held after every change.
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
set xlabel "time (ms)"
set ylabel "memory (GB)"
set yrange [0:capacity * 1.08]
set key outside right top noenhanced
set grid
set label 1 sprintf("peak %.2f GB", peak_gb) at peak_ms, peak_gb offset 1, 1
plot for [i=0:gpus-1] data index i using 1:2 with steps lw 2 title columnheader(1), \
     capacity with lines dt 2 lw 2 lc rgb "#C44E52" title sprintf("GPU memory %.0f GB", capacity), \
     "+" using (peak_ms):(peak_gb) every ::0::0 with points pt 7 ps 1.5 lc rgb "black" title "peak"
