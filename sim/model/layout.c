#include "model/layout.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/strutil.h"
#include "model/kernels.h"
#include "model/placement.h"

typedef struct checker {
    const cs_scenario *s;
    const cs_layout *l;
    cs_diags *d;
    int errors;
} checker;

static void problem(checker *c, cs_severity sev, cs_loc at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(checker *c, cs_severity sev, cs_loc at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!at.file)
        at = c->l->loc;
    const cs_yfile *f = cs_sources_find(&c->s->sources, at.file);
    cs_diags_vadd(c->d, sev, at, f ? f->text : NULL, f ? f->len : 0, fmt, ap);
    va_end(ap);
    if (sev == CS_ERROR)
        c->errors++;
}

/* A layout with dp written out: world = tp x cp x pp x ep x dp, each at
 * most 2^20 (so tp x cp x pp x ep fits a long; the last product is
 * checked). */
static void check_explicit_world(checker *c, const cs_layout *l, cs_layout_sizes *z)
{
    long inner = z->tp * z->cp * z->pp * z->ep, tcp = z->tp * z->cp * z->pp;
    int overflow = __builtin_mul_overflow(inner, z->dp, &z->world);
    if (!overflow && z->world == z->cluster_gpus)
        return;
    if (overflow)
        problem(c, CS_ERROR, l->loc_dp, "tp %ld x cp %ld x pp %ld x ep %ld x dp %ld GPUs is "
                "beyond any cluster; this one has %ld", z->tp, z->cp, z->pp, z->ep, z->dp,
                z->cluster_gpus);
    else if (z->cp > 1)
        problem(c, CS_ERROR, l->loc_dp,
                "needs %ld GPUs (tp %ld x cp %ld x pp %ld x ep %ld x dp %ld); the cluster has %ld",
                z->world, z->tp, z->cp, z->pp, z->ep, z->dp, z->cluster_gpus);
    else
        problem(c, CS_ERROR, l->loc_dp,
                "needs %ld GPUs (tp %ld x pp %ld x ep %ld x dp %ld); the cluster has %ld",
                z->world, z->tp, z->pp, z->ep, z->dp, z->cluster_gpus);
    if (overflow)
        z->world = 0; /* the other checks see no data-parallel size */
    if (z->ep > 1 && tcp * z->dp == z->cluster_gpus && z->dp % z->ep == 0)
        problem(c, CS_NOTE, l->loc_dp,
                "dp %ld looks like Megatron's data-parallel size, which already contains "
                "ep; here dp counts the replicas of each expert shard (dense DP = ep x dp): "
                "use dp %ld",
                z->dp, z->dp / z->ep);
    else if (z->cluster_gpus % inner == 0)
        problem(c, CS_NOTE, l->loc_dp, "with tp %ld, cp %ld, pp %ld and ep %ld the cluster "
                "fits dp %ld", z->tp, z->cp, z->pp, z->ep, z->cluster_gpus / inner);
    else if (z->cluster_gpus % tcp == 0)
        problem(c, CS_NOTE, l->loc_dp,
                "tp x cp x pp x ep = %ld does not divide %ld GPUs; to fold ep over tp "
                "(Megatron's MoE parallel folding), leave dp out",
                inner, z->cluster_gpus);
    else
        problem(c, CS_NOTE, l->loc_tp,
                "tp x cp x pp x ep = %ld does not divide %ld GPUs; no dp fits", inner,
                z->cluster_gpus);
}

/* The world and the dense data-parallel size dp_dense = world / (tp x cp x
 * pp), Megatron's data-parallel size (its gradient and optimizer groups
 * are dp x cp). Without dp the layout fills the cluster, as Megatron
 * derives its DP size; z->dp (ranks per expert shard, tp x cp x pp x ep x
 * dp = world) is then 0 when ep does not divide the dense DP: ep is folded
 * over tp and cp. */
static void check_world(checker *c, const cs_layout *l, cs_layout_sizes *z)
{
    long tcp = z->tp * z->cp * z->pp;
    if (l->dp > 0) {
        check_explicit_world(c, l, z);
    } else {
        z->world = z->cluster_gpus;
        long inner = tcp * z->ep;
        z->dp = z->world % inner ? 0 : z->world / inner;
    }
    if (z->world % tcp) {
        if (z->cp > 1)
            problem(c, CS_ERROR, l->loc_cp.file ? l->loc_cp : l->loc_tp,
                    "tp %ld x cp %ld x pp %ld = %ld does not divide the cluster's %ld GPUs, so "
                    "no data-parallel size fits",
                    z->tp, z->cp, z->pp, tcp, z->world);
        else
            problem(c, CS_ERROR, l->loc_tp,
                    "tp %ld x pp %ld = %ld does not divide the cluster's %ld GPUs, so no "
                    "data-parallel size fits",
                    z->tp, z->pp, tcp, z->world);
        z->dense_dp = 0;
        return;
    }
    z->dense_dp = z->world / tcp;
}

/* Context parallelism as Megatron-Core and Transformer Engine allow it:
 * the sequence in 2 x cp chunks (each rank a chunk from either end, which
 * balances the causal mask), so seq_length divisible by 2 cp, and by tp x
 * cp with sequence parallelism; only Transformer Engine's attention
 * (flash or fused) runs it; a2a splits the heads and query groups cp ways
 * too. */
static void check_context(checker *c, const cs_model *m, const cs_layout *l,
                          const cs_layout_sizes *z, const cs_training *t)
{
    if (z->cp <= 1)
        return;
    if (t->seq_length % (2 * z->cp))
        problem(c, CS_ERROR, l->loc_cp,
                "seq_length %ld is not divisible by 2 x cp = %ld (context parallelism splits "
                "the sequence into 2 x cp chunks)",
                t->seq_length, 2 * z->cp);
    else if (t->sequence_parallel && z->tp > 1 && (t->seq_length / z->cp) % z->tp)
        problem(c, CS_ERROR, l->loc_cp,
                "seq_length / cp = %ld is not divisible by tp %ld (needed by "
                "sequence_parallel)",
                t->seq_length / z->cp, z->tp);
    if (z->attention != CS_ATTN_FLASH && z->attention != CS_ATTN_FUSED)
        problem(c, CS_ERROR, l->loc_cp,
                "context parallelism runs only in Transformer Engine's attention (backend "
                "flash or fused), as Megatron-Core requires");
    if (m->window_size >= 0 && t->cp_comm_type == CS_CP_P2P) /* TE: a2a and all_gather only */
        problem(c, CS_ERROR, t->loc_cp_comm.file ? t->loc_cp_comm : l->loc_cp,
                "sliding-window attention (model.window_size) with context parallelism needs "
                "cp_comm_type a2a or all_gather: Transformer Engine refuses windows with p2p");
    if (t->cp_comm_type == CS_CP_A2A_P2P)
        problem(c, CS_ERROR, t->loc_cp_comm,
                "cp_comm_type a2a+p2p (hierarchical) is not modelled yet; use p2p, a2a or "
                "all_gather");
    if (m->mla.enabled && (t->cp_comm_type == CS_CP_A2A || t->cp_comm_type == CS_CP_ALLGATHER))
        problem(c, CS_WARNING, t->loc_cp_comm.file ? t->loc_cp_comm : l->loc_cp,
                "multi-latent attention with cp_comm_type %s needs Transformer Engine v2.16 or "
                "later (v2.14 and earlier run it with p2p only)",
                t->cp_comm_type == CS_CP_A2A ? "a2a" : "all_gather");
    if (t->cp_comm_type == CS_CP_A2A) {
        long groups = m->mla.enabled ? m->num_attention_heads : m->num_query_groups;
        if ((m->num_attention_heads / z->tp) % z->cp || (groups / z->tp) % z->cp)
            problem(c, CS_ERROR, t->loc_cp_comm.file ? t->loc_cp_comm : l->loc_cp,
                    "cp_comm_type a2a splits each tensor-parallel rank's heads cp ways: "
                    "%ld heads and %ld query groups over tp %ld are not divisible by cp %ld",
                    m->num_attention_heads, groups, z->tp, z->cp);
    }
}

static void check_tensor_split(checker *c, const cs_model *m, const cs_layout *l,
                               const cs_layout_sizes *z, const cs_training *t)
{
    if (m->num_attention_heads % z->tp)
        problem(c, CS_ERROR, l->loc_tp, "num_attention_heads %ld is not divisible by tp %ld",
                m->num_attention_heads, z->tp);
    if (m->num_query_groups % z->tp)
        problem(c, CS_ERROR, l->loc_tp, "num_query_groups %ld is not divisible by tp %ld",
                m->num_query_groups, z->tp);
    if (m->hidden_size % z->tp)
        problem(c, CS_ERROR, l->loc_tp, "hidden_size %ld is not divisible by tp %ld",
                m->hidden_size, z->tp);
    if (m->ffn_hidden_size % z->tp)
        problem(c, CS_ERROR, l->loc_tp, "ffn_hidden_size %ld is not divisible by tp %ld",
                m->ffn_hidden_size, z->tp);
    if (t->sequence_parallel && z->tp > 1 && t->seq_length % z->tp)
        problem(c, CS_ERROR, l->loc_tp,
                "seq_length %ld is not divisible by tp %ld (needed by sequence_parallel)",
                t->seq_length, z->tp);
}

/* The experts' decomposition of each stage's GPUs, etp x ep x edp, and
 * Megatron-Core's rule that it keeps the dense layers' pipeline groups
 * (an order that puts pp inside other dimensions can break it). */
static void check_folding(checker *c, const cs_layout *l, cs_layout_sizes *z)
{
    long per_stage = z->world / z->pp, shard = z->etp * z->ep;
    if (per_stage % shard) {
        problem(c, CS_ERROR, l->loc_ep.file ? l->loc_ep : l->loc_etp,
                "etp %ld x ep %ld = %ld does not divide the %ld GPUs of a pipeline stage, so "
                "the expert data-parallel size is not whole",
                z->etp, z->ep, shard, per_stage);
        z->expert_dp = 0;
        return;
    }
    z->expert_dp = per_stage / shard;
    long dense = cs_place_stage_stride(l, z, CS_DENSE);
    long expert = cs_place_stage_stride(l, z, CS_EXPERT);
    /* Both rules are initialize_model_parallel's (core/parallel_state.py). */
    if (z->pp > 1 && dense != expert) /* with one stage every pipeline group is a rank */
        problem(c, CS_ERROR, l->loc_order,
                "this order gives the dense and the expert layers different pipeline groups "
                "(stage stride %ld against %ld), which Megatron-Core refuses; put pp "
                "outermost",
                dense, expert);
    else if (l->order[CS_DIM_COUNT - 1] != CS_DIM_PP && z->pp > 1 &&
             z->expert_dp != z->dense_dp)
        problem(c, CS_ERROR, l->loc_order,
                "with pp not outermost, Megatron-Core needs the same data-parallel size for the "
                "dense and the expert layers (here %ld and %ld)",
                z->dense_dp, z->expert_dp);
}

static void check_experts(checker *c, const cs_model *m, const cs_layout *l,
                          cs_layout_sizes *z)
{
    if (m->moe.num_experts <= 0) {
        if (z->ep != 1)
            problem(c, CS_ERROR, l->loc_ep, "ep is %ld but model %s is dense (no experts); "
                    "use ep 1", z->ep, m->name);
        if (l->etp > 0 && l->etp != z->tp)
            problem(c, CS_WARNING, l->loc_etp, "etp is ignored for a dense model");
        z->etp = z->tp;
        z->expert_dp = z->dense_dp * z->cp;
        return;
    }
    if (m->moe.num_experts % z->ep)
        problem(c, CS_ERROR, l->loc_ep, "moe.num_experts %ld is not divisible by ep %ld",
                m->moe.num_experts, z->ep);
    else
        z->experts_per_gpu = m->moe.num_experts / z->ep;
    /* Megatron-Core's TransformerConfig refuses this combination. */
    if (z->ep > 1 && z->tp > 1 && !c->s->training.sequence_parallel)
        problem(c, CS_ERROR, l->loc_tp,
                "expert parallelism with tensor parallelism needs sequence_parallel: true "
                "(as Megatron-Core requires)");
    if (m->moe.ffn_hidden_size % z->etp)
        problem(c, CS_ERROR, l->loc_etp, "moe.ffn_hidden_size %ld is not divisible by etp %ld",
                m->moe.ffn_hidden_size, z->etp);
    if (c->s->training.moe_token_dispatcher_type == CS_DISPATCH_FLEX && z->ep * z->etp <= 1)
        problem(c, CS_ERROR, l->loc_ep,
                "the flex (DeepEP) dispatcher needs etp x ep > 1 (as Megatron-Core asserts)");
    check_folding(c, l, z);
}

/* Layers of pipeline stage s with a first or last stage set apart. */
static long uneven_stage(const cs_layout_sizes *z, long s)
{
    if (s == 0 && z->first_stage_layers >= 0)
        return z->first_stage_layers;
    if (s == z->pp - 1 && z->last_stage_layers >= 0)
        return z->last_stage_layers;
    long rest = z->num_layers, left = z->pp;
    if (z->first_stage_layers >= 0)
        rest -= z->first_stage_layers, left--;
    if (z->last_stage_layers >= 0)
        rest -= z->last_stage_layers, left--;
    return left > 0 ? rest / left : 0;
}

static int uneven(const cs_layout_sizes *z)
{
    return z->first_stage_layers >= 0 || z->last_stage_layers >= 0;
}

static long decoder_chunk_layers(const cs_layout_sizes *z, long stage, long chunk, long *first)
{
    long v = z->vpp, vs = chunk * z->pp + stage;
    if (uneven(z)) {
        long before = 0;
        for (long s = 0; s < stage; s++)
            before += uneven_stage(z, s);
        *first = chunk * (z->num_layers / v) + before / v;
        return uneven_stage(z, stage) / v;
    }
    long base = (z->num_layers + z->embedding_slot + z->loss_slot) / (z->pp * v);
    *first = vs * base - (z->embedding_slot && vs > 0);
    return base - (z->embedding_slot && vs == 0) - (z->loss_slot && vs == z->pp * v - 1);
}

long cs_layout_chunk_layers(const cs_layout_sizes *z, long stage, long chunk, long *first)
{
    long n = decoder_chunk_layers(z, stage, chunk, first);
    return stage == z->pp - 1 && chunk == z->vpp - 1 ? n + z->mtp_layers : n;
}

long cs_layout_stage_layers(const cs_layout_sizes *z, long stage)
{
    long n = 0, first;
    for (long c = 0; c < z->vpp; c++)
        n += cs_layout_chunk_layers(z, stage, c, &first);
    return n;
}

/* Megatron's uneven first / last stages: the other stages share the rest
 * evenly, every stage's layers split over its chunks. */
static void check_uneven(checker *c, const cs_training *t, const cs_layout *l,
                         cs_layout_sizes *z)
{
    if (z->embedding_slot || z->loss_slot)
        problem(c, CS_ERROR, t->loc,
                "decoder_first/last_pipeline_num_layers cannot be combined with "
                "account_for_embedding/loss_in_pipeline_split (Megatron-Core refuses it)");
    if (z->pp < 2) {
        problem(c, CS_ERROR, l->loc_pp, "an uneven first or last stage needs pp of 2 or more");
        return;
    }
    /* Megatron: each count larger than 0, and middle stages only with
     * middle layers (and the reverse). Bounded first, so nothing overflows. */
    if (z->first_stage_layers > z->num_layers || z->last_stage_layers > z->num_layers) {
        problem(c, CS_ERROR, t->loc,
                "decoder_first/last_pipeline_num_layers must each be at most num_layers %ld",
                z->num_layers);
        return;
    }
    long rest = z->num_layers, left = z->pp;
    if (z->first_stage_layers >= 0)
        rest -= z->first_stage_layers, left--;
    if (z->last_stage_layers >= 0)
        rest -= z->last_stage_layers, left--;
    if (rest < 0 || (left == 0 && rest != 0) || (left > 0 && (rest == 0 || rest % left)))
        problem(c, CS_ERROR, t->loc,
                "num_layers %ld less the first and last stages' leaves %ld layers, which do not "
                "split evenly over the other %ld stages",
                z->num_layers, rest, left);
    for (long s = 0; s < z->pp; s++)
        if (uneven_stage(z, s) % z->vpp)
            problem(c, CS_ERROR, l->loc_pp,
                    "stage %ld's %ld layers are not divisible by vpp %ld", s, uneven_stage(z, s),
                    z->vpp);
}

/* The even split, the embedding and the loss counted as layers if asked. */
static void check_even(checker *c, const cs_layout *l, cs_layout_sizes *z)
{
    long slots = z->pp * z->vpp, n = z->num_layers + z->embedding_slot + z->loss_slot;
    if (n % slots && !z->embedding_slot && !z->loss_slot)
        problem(c, CS_ERROR, l->loc_pp, "num_layers %ld is not divisible by pp %ld x vpp %ld",
                z->num_layers, z->pp, z->vpp);
    else if (n % slots)
        problem(c, CS_ERROR, l->loc_pp,
                "num_layers %ld with the embedding and loss counted (%ld) is not divisible by "
                "pp %ld x vpp %ld",
                z->num_layers, n, z->pp, z->vpp);
    else if (n / slots < 1 + (slots == 1 && z->embedding_slot && z->loss_slot))
        problem(c, CS_ERROR, l->loc_pp, "too few layers for %ld virtual stages", slots);
}

static void check_pipeline(checker *c, const cs_scenario *s, const cs_layout *l,
                           cs_layout_sizes *z)
{
    const cs_training *t = &s->training;
    cs_loc at = l->loc_vpp.file ? l->loc_vpp : t->loc;
    if (z->schedule == CS_INTERLEAVED && z->vpp < 2)
        problem(c, CS_ERROR, at,
                "schedule interleaved needs virtual_pipeline_stages (vpp) of 2 or more");
    if (z->schedule == CS_INTERLEAVED && z->pp < 2)
        problem(c, CS_ERROR, l->loc_pp, "schedule interleaved needs pp of 2 or more");
    if (z->schedule != CS_INTERLEAVED && z->vpp > 1)
        problem(c, CS_WARNING, at, "vpp %ld is ignored: schedule %s has no virtual stages",
                z->vpp, cs_schedule_name(z->schedule));
    z->vpp = z->schedule == CS_INTERLEAVED ? z->vpp : 1;
    z->num_layers = s->model.num_layers;
    z->mtp_layers = s->model.mtp_num_layers;
    z->first_stage_layers = t->decoder_first_pipeline_num_layers;
    z->last_stage_layers = t->decoder_last_pipeline_num_layers;
    z->embedding_slot = t->account_for_embedding_in_pipeline_split != 0;
    z->loss_slot = t->account_for_loss_in_pipeline_split != 0;
    int errors = c->errors;
    if (uneven(z))
        check_uneven(c, t, l, z);
    else
        check_even(c, l, z);
    if (c->errors > errors)
        return;
    for (long st = 0; st < z->pp; st++) {
        long n = cs_layout_stage_layers(z, st), first;
        if (n > z->layers_per_stage)
            z->layers_per_stage = n;
        for (long ch = 0; ch < z->vpp; ch++) {
            long k = cs_layout_chunk_layers(z, st, ch, &first);
            if (k > z->layers_per_virtual_stage)
                z->layers_per_virtual_stage = k;
        }
    }
}

static void check_batch(checker *c, const cs_scenario *s, const cs_layout *l,
                        cs_layout_sizes *z)
{
    long gbs = s->training.global_batch_size;
    long per_step = z->dense_dp * z->micro_batch;
    if (per_step <= 0)
        return; /* no data-parallel size: already refused */
    if (gbs % per_step) {
        problem(c, CS_ERROR, l->loc_dp,
                "global_batch_size %ld is not divisible by the dense data-parallel size %ld x "
                "micro_batch_size %ld = %ld",
                gbs, z->dense_dp, z->micro_batch, per_step);
        return;
    }
    z->microbatches = gbs / per_step;
    if (z->pp > 1 && z->microbatches < z->pp)
        problem(c, CS_WARNING, l->loc_pp,
                "only %ld micro-batches for %ld pipeline stages: the pipeline never fills "
                "(bubble at least (p-1)/(m+p-1) = %.0f%% of the iteration)",
                z->microbatches, z->pp,
                100.0 * (double)(z->pp - 1) / (double)(z->microbatches + z->pp - 1));
    if (z->schedule == CS_INTERLEAVED && z->pp > 1 && z->microbatches % z->pp)
        problem(c, CS_ERROR, l->loc_pp,
                "%ld micro-batches is not a multiple of pp %ld, which Megatron's interleaved "
                "schedule needs",
                z->microbatches, z->pp);
}

/* The replay's size, estimated before anything is built, a little above
 * what the builder makes: per micro-batch and GPU 16 ops per dense layer
 * (32 per MoE layer, with its dispatcher) and 16 for the pipeline's
 * transfers and the ends, plus 64 per GPU; products checked. Beyond
 * CS_MAX_OPS a replay would not fit in memory (and op ids are 32-bit), so
 * the layout is refused with the size it asks for. */
static void check_size(checker *c, const cs_scenario *s, const cs_layout_sizes *z)
{
    long per_layer = s->model.moe.num_experts > 0 ? 32 : 16, per_mb = 0, per_gpu = 0, ops = 0;
    int over = __builtin_mul_overflow(z->layers_per_stage, per_layer, &per_mb) ||
               __builtin_add_overflow(per_mb, 16L, &per_mb) ||
               __builtin_mul_overflow(per_mb, z->microbatches, &per_gpu) ||
               __builtin_add_overflow(per_gpu, 64L, &per_gpu) ||
               __builtin_mul_overflow(per_gpu, z->world, &ops) || ops > CS_MAX_OPS;
    if (over)
        problem(c, CS_ERROR, s->training.loc,
                "a replay of this layout needs about %.3g ops (%ld micro-batches x %ld "
                "layers x %ld GPUs), over the limit of %.3g: lower global_batch_size or the "
                "GPUs, or study a smaller cluster of the same per-GPU shape",
                ((double)z->layers_per_stage * (double)per_layer + 16) *
                    (double)z->microbatches * (double)z->world,
                z->microbatches, z->layers_per_stage, z->world, (double)CS_MAX_OPS);
}

static void check_spans(checker *c, const cs_scenario *s, const cs_layout *l,
                        cs_layout_sizes *z)
{
    long gpn = s->cluster.gpus_per_node;
    z->tp_group_nodes = cs_place_group_nodes(l, z, CS_DENSE, CS_DIM_TP, gpn);
    z->ep_group_nodes = cs_place_group_nodes(l, z, CS_EXPERT, CS_DIM_EP, gpn);
    z->etp_group_nodes = cs_place_group_nodes(l, z, CS_EXPERT, CS_DIM_TP, gpn);
    if (z->tp_group_nodes > 1)
        problem(c, CS_WARNING, l->loc_tp,
                "a tensor-parallel group of %ld GPUs spans %ld nodes: its all-reduces cross "
                "the scale-out network",
                z->tp, z->tp_group_nodes);
    if (z->ep_group_nodes > 1)
        problem(c, CS_WARNING, l->loc_ep,
                "an expert-parallel group of %ld GPUs spans %ld nodes: its all-to-alls cross "
                "the scale-out network",
                z->ep, z->ep_group_nodes);
    /* Only where the dense TP group does not already say it. */
    if (z->etp_group_nodes > 1 && z->etp_group_nodes > z->tp_group_nodes)
        problem(c, CS_WARNING, l->loc_order.file ? l->loc_order : l->loc_etp,
                "an expert-tensor-parallel group of %ld GPUs spans %ld nodes: the experts' "
                "all-gathers and reduce-scatters cross the scale-out network",
                z->etp, z->etp_group_nodes);
}

int cs_layout_check(const cs_scenario *s, const cs_layout *l, cs_layout_sizes *z, cs_diags *d)
{
    checker c = {s, l, d, 0};
    const cs_training *t = &s->training;
    memset(z, 0, sizeof *z);
    long nodes = s->cluster.nodes, gpn = s->cluster.gpus_per_node;
    z->cluster_gpus = nodes > 0 && gpn > 0 && nodes <= (1L << 20) && gpn <= (1L << 20)
                          ? nodes * gpn
                          : -1; /* refused below, before anything multiplies it */
    z->tp = l->tp;
    z->pp = l->pp;
    z->ep = l->ep;
    z->dp = l->dp;
    z->etp = l->etp > 0 ? l->etp : l->tp;
    z->cp = l->cp > 0 ? l->cp : 1;
    z->vpp = cs_layout_vpp(l, t);
    z->micro_batch = cs_layout_micro_batch(l, t);
    /* Products of these must not overflow: a million of anything is beyond
     * any cluster clustersim models. */
    static const long limit = 1L << 20;
    if (z->tp > limit || z->pp > limit || z->ep > limit || (z->dp > limit) || z->etp > limit ||
        z->cp > limit || z->tp * z->cp > limit ||
        z->vpp > limit || z->micro_batch > limit || z->cluster_gpus > limit ||
        z->cluster_gpus <= 0) {
        problem(&c, CS_ERROR, l->loc, "tp, pp, ep, dp, etp, cp, tp x cp, vpp, "
                                      "micro_batch_size and the cluster's GPUs must each be "
                                      "at most %ld", limit);
        return -1;
    }
    z->schedule = cs_layout_schedule(l, t);
    z->recompute = cs_layout_recompute(l, t);
    z->attention = cs_kernels_backend(t, &s->cluster.gpu);
    check_world(&c, l, z);
    check_tensor_split(&c, &s->model, l, z, t);
    check_context(&c, &s->model, l, z, t);
    check_experts(&c, &s->model, l, z);
    check_pipeline(&c, s, l, z);
    check_batch(&c, s, l, z);
    if (!c.errors)
        check_size(&c, s, z);
    /* Spans need both decompositions whole. */
    if (z->dense_dp > 0 && z->expert_dp > 0 && z->world == z->cluster_gpus)
        check_spans(&c, s, l, z);
    return c.errors ? -1 : 0;
}
