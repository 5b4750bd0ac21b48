/* ID numbers at rest, in kehud: sealed (AES-256-CBC under a key derived
 * from kehud's id_key), looked up by a keyed hash, shown masked. The same
 * forms as the database's own id_seal, id_open and id_hash (sql/0007,
 * sql/0017), so either side opens what the other sealed; kehud does it for
 * its hot paths (a customer read, an import's rows) where a PL/pgSQL call
 * with an error handler per row cost more than the rest of the read. */
#ifndef KEHU_ID_NUMBER_H
#define KEHU_ID_NUMBER_H

#include "util.h"

/* Derives the sealing and hashing keys from id_key (64 hex digits); NULL or
 * "" (kehud serves without its key): nothing is sealed and sealed numbers
 * open as ID_UNAVAILABLE. Returns -1 for a malformed key. Call once, before
 * any other thread uses the functions below. */
int id_number_init(const char *id_key_hex);
/* Whether numbers can be sealed and opened here. */
int id_number_keyed(void);

/* The number a stored value holds: a sealed one opened, ID_UNAVAILABLE when
 * it does not open (no key, another key); anything else as it is. */
const char *id_number_open(struct arena *a, const char *stored);
/* "enc1:" and the hex of IV and ciphertext; NULL without a key. */
char *id_number_seal(struct arena *a, const char *plain);
/* The hex HMAC the index and the duplicate checks use; NULL without a key. */
char *id_number_hash(struct arena *a, const char *plain);

#endif
