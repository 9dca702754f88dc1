/* What a GPU-second costs: rented (the GPU-hour price), or bought with its
 * share of the scale-out NICs and switch ports and the energy it draws;
 * the units it is written in (watts, USD per kWh); the checks. */
#include <math.h>

#include "input/units.h"
#include "study/price.h"
#include "testutil.h"

#define SCENARIO                                                                                   \
    "model: { name: p, num_layers: 2, hidden_size: 1024, num_attention_heads: 16, "                \
    "vocab_size: 32000 }\n"                                                                        \
    "cluster: { base: dgx-h100, nodes: %d }\n"                                                     \
    "training: { seq_length: 1024, global_batch_size: 16 }\n"                                      \
    "cost: { %s }\n"                                                                               \
    "layouts: [{ tp: 1, pp: 1 }]\n"

static int load(int nodes, const char *cost, cs_scenario *s, cs_diags *d)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, SCENARIO, nodes, cost);
    cs_diags_init(d);
    return tu_load_scenario(yaml, s, d);
}

START_TEST(power_and_energy_units)
{
    cs_quantity q;
    char err[160];
    ck_assert_int_eq(cs_units_parse("700 W", CS_UNIT_POWER, &q, err, sizeof err), 0);
    ck_assert(q.value == 700);
    ck_assert_int_eq(cs_units_parse("10.2 kW", CS_UNIT_POWER, &q, err, sizeof err), 0);
    ck_assert(q.value == 10200);
    ck_assert_int_eq(cs_units_parse("0.08 USD/kWh", CS_UNIT_ENERGY_PRICE, &q, err, sizeof err), 0);
    assert_close(q.value, 0.08 / 3.6e6, 1e-15);
    ck_assert_int_eq(cs_units_parse("50 USD/MWh", CS_UNIT_ENERGY_PRICE, &q, err, sizeof err), 0);
    assert_close(q.value, 0.05 / 3.6e6, 1e-15);
    ck_assert_int_eq(cs_units_parse("0.08 USD", CS_UNIT_ENERGY_PRICE, &q, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "'0.08 USD' is a price, not a price of energy"));
    ck_assert_int_eq(cs_units_parse("1 KiW", CS_UNIT_POWER, &q, err, sizeof err), -1);
    ck_assert_int_eq(cs_units_parse("700 W", CS_UNIT_MONEY, &q, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "is a power"));
}
END_TEST

/* 2 DGX H100 nodes: 16 NICs, rail-optimized over 8 leaves (one rail each),
 * oversubscription 1: 16 leaf ports and 16 uplinks with 16 spine ports, 48
 * ports for 16 GPUs. A GPU-second: (30,000 + (16 x 2,000 + 48 x 700) / 16)
 * USD over 4 years, plus 1,275 W at 0.08 USD/kWh. */
START_TEST(purchase_with_network_and_power)
{
    cs_scenario s;
    cs_diags d;
    ck_assert_int_eq(load(2, "purchase: 30000 USD, lifetime: 4 years, nic: 2000 USD, "
                             "switch_port: 700 USD, power: 1.275 kW, energy: 0.08 USD/kWh",
                          &s, &d),
                     0);
    double life = 4 * 365 * 86400.0;
    double want = (30000 + (16 * 2000.0 + 48 * 700.0) / 16) / life + 1275 * 0.08 / 3.6e6;
    assert_close(cs_price_per_gpu_s(&s.cost, &s.cluster), want, 1e-12);
    cs_scenario_free(&s);
    cs_diags_free(&d);
    /* one node: no scale-out network to buy */
    ck_assert_int_eq(load(1, "purchase: 30000 USD, lifetime: 4 years, nic: 2000 USD, "
                             "switch_port: 700 USD",
                          &s, &d),
                     0);
    assert_close(cs_price_per_gpu_s(&s.cost, &s.cluster), 30000 / life, 1e-12);
    cs_scenario_free(&s);
    cs_diags_free(&d);
    /* rented: the GPU-hour price alone */
    ck_assert_int_eq(load(2, "gpu_hour: 3.6 USD", &s, &d), 0);
    assert_close(cs_price_per_gpu_s(&s.cost, &s.cluster), 0.001, 1e-12);
    cs_scenario_free(&s);
    cs_diags_free(&d);
}
END_TEST

START_TEST(checks)
{
    cs_scenario s;
    cs_diags d;
    ck_assert_int_eq(load(2, "gpu_hour: 3 USD, nic: 2000 USD", &s, &d), -1);
    tu_assert_diag(&d, CS_ERROR, "nic, switch_port, power and energy price a purchase", 4, 7);
    cs_scenario_free(&s);
    cs_diags_free(&d);
    ck_assert_int_eq(load(2, "purchase: 30000 USD, lifetime: 4 years, power: 700 W", &s, &d),
                     -1);
    tu_assert_diag(&d, CS_ERROR, "power and energy go together", 4, 7);
    cs_scenario_free(&s);
    cs_diags_free(&d);
    ck_assert_int_eq(load(2, "purchase: 30000 USD, lifetime: 4 years, energy: 0.08 USD", &s,
                          &d),
                     -1);
    tu_assert_diag(&d, CS_ERROR, "'0.08 USD' is a price, not a price of energy", 4, 57);
    cs_scenario_free(&s);
    cs_diags_free(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("price");
    TCase *t = tcase_create("price");
    tcase_add_test(t, power_and_energy_units);
    tcase_add_test(t, purchase_with_network_and_power);
    tcase_add_test(t, checks);
    suite_add_tcase(s, t);
    return tu_main(s);
}
