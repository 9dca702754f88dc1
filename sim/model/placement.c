#include "model/placement.h"

long cs_place_size(const cs_layout_sizes *z, cs_decomp which, cs_dim dim)
{
    switch (dim) {
    case CS_DIM_TP:
        return which == CS_EXPERT ? z->etp : z->tp;
    case CS_DIM_CP:
        return which == CS_EXPERT || z->cp < 1 ? 1 : z->cp;
    case CS_DIM_EP:
        return which == CS_EXPERT ? z->ep : 1;
    case CS_DIM_DP:
        return which == CS_EXPERT ? z->expert_dp : z->dense_dp;
    default:
        return z->pp;
    }
}

void cs_place_coords(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which, long rank,
                     long coord[CS_DIM_COUNT])
{
    for (int i = 0; i < CS_DIM_COUNT; i++) {
        long size = cs_place_size(z, which, l->order[i]);
        coord[l->order[i]] = rank % size;
        rank /= size;
    }
}

long cs_place_rank(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which,
                   const long coord[CS_DIM_COUNT])
{
    long rank = 0;
    for (int i = CS_DIM_COUNT - 1; i >= 0; i--)
        rank = rank * cs_place_size(z, which, l->order[i]) + coord[l->order[i]];
    return rank;
}

long cs_place_stage_stride(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which)
{
    long stride = 1;
    for (int i = 0; i < CS_DIM_COUNT && l->order[i] != CS_DIM_PP; i++)
        stride *= cs_place_size(z, which, l->order[i]);
    return stride;
}

long cs_place_stage(const cs_layout *l, const cs_layout_sizes *z, long rank)
{
    long c[CS_DIM_COUNT];
    cs_place_coords(l, z, CS_DENSE, rank, c);
    return c[CS_DIM_PP];
}

long cs_place_local(const cs_layout *l, const cs_layout_sizes *z, long rank)
{
    long c[CS_DIM_COUNT];
    cs_place_coords(l, z, CS_DENSE, rank, c);
    long cp = cs_place_size(z, CS_DENSE, CS_DIM_CP);
    return c[CS_DIM_TP] + z->tp * (c[CS_DIM_CP] + cp * c[CS_DIM_DP]);
}

long cs_place_at(const cs_layout *l, const cs_layout_sizes *z, long local, long stage)
{
    long c[CS_DIM_COUNT] = {0}, cp = cs_place_size(z, CS_DENSE, CS_DIM_CP);
    c[CS_DIM_TP] = local % z->tp;
    c[CS_DIM_CP] = local / z->tp % cp;
    c[CS_DIM_DP] = local / z->tp / cp;
    c[CS_DIM_PP] = stage;
    return cs_place_rank(l, z, CS_DENSE, c);
}

long cs_place_groups(const cs_layout_sizes *z, cs_decomp which, cs_dim dim)
{
    return z->world / z->pp / cs_place_size(z, which, dim);
}

/* The members along dim from coordinates c (c[dim] is overwritten). */
static long members(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which, cs_dim dim,
                    long c[CS_DIM_COUNT], long *out)
{
    long n = cs_place_size(z, which, dim);
    for (long i = 0; i < n; i++) {
        c[dim] = i;
        out[i] = cs_place_rank(l, z, which, c);
    }
    return n;
}

long cs_place_group(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which, cs_dim dim,
                    long g, long stage, long *out)
{
    long c[CS_DIM_COUNT] = {0};
    c[CS_DIM_PP] = stage;
    for (int d = CS_DIM_TP; d < CS_DIM_PP; d++) {
        if (d == (int)dim)
            continue;
        long size = cs_place_size(z, which, (cs_dim)d);
        c[d] = g % size;
        g /= size;
    }
    return members(l, z, which, dim, c, out);
}

long cs_place_group_of(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which,
                       cs_dim dim, long rank, long *out)
{
    long c[CS_DIM_COUNT];
    cs_place_coords(l, z, which, rank, c);
    return members(l, z, which, dim, c, out);
}

long cs_place_dp_cp_group(const cs_layout *l, const cs_layout_sizes *z, long tp, long stage,
                           long *out)
{
    long c[CS_DIM_COUNT] = {0}, n = 0, cp = cs_place_size(z, CS_DENSE, CS_DIM_CP);
    c[CS_DIM_TP] = tp;
    c[CS_DIM_PP] = stage;
    for (c[CS_DIM_DP] = 0; c[CS_DIM_DP] < z->dense_dp; c[CS_DIM_DP]++)
        for (c[CS_DIM_CP] = 0; c[CS_DIM_CP] < cp; c[CS_DIM_CP]++)
            out[n++] = cs_place_rank(l, z, CS_DENSE, c);
    return n;
}

long cs_place_expert_tp_ep_group(const cs_layout *l, const cs_layout_sizes *z, long edp,
                                 long stage, long *out)
{
    long c[CS_DIM_COUNT] = {0}, n = 0;
    c[CS_DIM_DP] = edp;
    c[CS_DIM_PP] = stage;
    for (c[CS_DIM_EP] = 0; c[CS_DIM_EP] < z->ep; c[CS_DIM_EP]++)
        for (c[CS_DIM_TP] = 0; c[CS_DIM_TP] < z->etp; c[CS_DIM_TP]++)
            out[n++] = cs_place_rank(l, z, CS_EXPERT, c);
    return n;
}

long cs_place_group_nodes(const cs_layout *l, const cs_layout_sizes *z, cs_decomp which,
                          cs_dim dim, long gpus_per_node)
{
    long size = cs_place_size(z, which, dim), most = 1;
    long c[CS_DIM_COUNT];
    for (long rank = 0; rank < z->world; rank++) {
        cs_place_coords(l, z, which, rank, c);
        if (c[dim] != 0)
            continue;
        /* Members follow in rank order; count the node changes along them. */
        long nodes = 1, last = rank / gpus_per_node;
        for (long j = 1; j < size; j++) {
            c[dim] = j;
            long node = cs_place_rank(l, z, which, c) / gpus_per_node;
            nodes += node != last;
            last = node;
        }
        if (nodes > most)
            most = nodes;
    }
    return most;
}
