#include "study/price.h"

#include <math.h>

#include "net/fabric.h"

double cs_price_per_gpu_s(const cs_cost_config *k, const cs_cluster *c)
{
    if (!k->present)
        return NAN;
    if (k->gpu_hour > 0)
        return k->gpu_hour / 3600;
    if (!(k->lifetime > 0))
        return 0;
    double gpus = (double)c->nodes * (double)c->gpus_per_node;
    double network = 0;
    if (gpus > 0 && c->nodes > 1)
        network = (k->nic * (double)c->nodes * (double)c->scale_out.nics_per_node +
                   k->switch_port * cs_fabric_switch_ports(c)) /
                  gpus;
    return (k->purchase + network) / k->lifetime + k->power * k->energy;
}
