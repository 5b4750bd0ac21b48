/* The grading dimensions and their grades, best first: one table for kehud
 * (which checks what clients send) and the command line (which refuses a
 * wrong --dimension before connecting). sql/0006_grading.sql grade_values()
 * holds the same in SQL; released migrations stay as they are, so a change
 * here needs a migration there too. */
#ifndef KEHU_GRADES_H
#define KEHU_GRADES_H

#include <stddef.h>

/* The dimensions' names, NULL-terminated, in the order they are listed. */
extern const char *const grade_dimensions[];
/* The grades of a dimension, best first, NULL-terminated; NULL: no such dimension. */
const char *const *grade_values(const char *dimension);
/* How many names a NULL-terminated list holds (0 for NULL). */
size_t grade_count(const char *const *names);

#endif
