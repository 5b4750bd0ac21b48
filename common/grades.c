#include "grades.h"

#include <string.h>

static const char *const abc_values[] = { "A", "B", "C", NULL };
static const char *const volume_values[] = { "A", "B", "C", "D", NULL };
static const char *const value_values[] = { "high", "medium", "low", NULL };
static const char *const asset_values[] = { "vip", "wealth", "general", NULL };
static const char *const lifecycle_values[] = { "new", "active", "loyal", "silent", "churned", "won_back", NULL };
static const char *const credit_values[] = { "AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", NULL };
static const char *const needs_values[] = { "price", "quality", "service", NULL };
static const char *const potential_values[] = { "high", "low", NULL };
static const char *const influence_values[] = { "high", "medium", "low", NULL };

const char *const grade_dimensions[] = { "abc",    "volume", "value_tier", "asset_tier", "lifecycle",
                                         "credit", "needs",  "potential",  "influence",  NULL };
/* In the order of grade_dimensions. */
static const char *const *const dimension_values[] = {
    abc_values,       volume_values, value_values,     asset_values,     lifecycle_values,
    credit_values,    needs_values,  potential_values, influence_values,
};
_Static_assert(sizeof dimension_values / sizeof *dimension_values + 1 ==
                   sizeof grade_dimensions / sizeof *grade_dimensions,
               "a list of grades for every dimension");

const char *const *grade_values(const char *dimension)
{
    for (size_t i = 0; dimension && grade_dimensions[i]; i++)
        if (strcmp(dimension, grade_dimensions[i]) == 0)
            return dimension_values[i];
    return NULL;
}

size_t grade_count(const char *const *names)
{
    size_t n = 0;
    while (names && names[n])
        n++;
    return n;
}
