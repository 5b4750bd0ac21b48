/* Refusals in the client's language. The client names its language in
 * Hello.language; kehud keeps it on the connection and translates a
 * refusal's message where it is made (req_fail), through the "kehu" text
 * domain of po/: its format for the messages written in C, the matching
 * form for the messages raised in SQL (RAISE EXCEPTION 'customer % ...',
 * collected from sql/ at build time). Codes and fields never change. */
#ifndef KEHU_TR_H
#define KEHU_TR_H

#include "util.h"

enum { TR_EN = 0, TR_ZH = 1 };

/* Binds the text domain and prepares the Chinese message locale; once, at
 * start. */
void tr_init(void);
/* The language named in a Hello: TR_ZH for Chinese, else TR_EN. */
int tr_lang(const char *language);
/* msgid in lang (msgid itself for English or without a translation). */
const char *tr(int lang, const char *msgid);
/* A finished message in lang: its translation, or the translation of the
 * SQL refusal form it fills in, with the filled-in values carried over
 * (allocated in a); text itself when neither is known. */
const char *tr_text(struct arena *a, int lang, const char *text);

/* msg with the detail a check appended at its end (validate.c: "is too
 * long") in lang. */
const char *tr_detail(struct arena *a, int lang, const char *msg);
/* A note or task title the system wrote (a churn warning's planned call, a
 * pool warning, a case's deadline task) in lang: such notes are stored in
 * one stable English form and worded for each reader when read. A note a
 * person wrote comes back as it is. */
const char *tr_note(struct arena *a, int lang, const char *note);

#endif
