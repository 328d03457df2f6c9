/* The one home of ICU (STYLE.md: one home per library): the key an email is unique under, and
 * the refusal of addresses that can pass for someone else's.
 *
 * Why ICU: telling "ａlice" (fullwidth) from "alice", or "аlice" (Cyrillic а) from "alice", needs
 * the Unicode normalisation, case-folding, script and confusable tables. They change with every
 * Unicode version; Debian's ICU keeps them, and ships UTS #39 (uspoof) on top, so idpd keeps no
 * copy of its own. No ICU type leaves this file.
 *
 * ICU's shared objects are made once: the NFKC_Casefold normaliser is an ICU singleton, and the
 * spoof checker is configured once and then only used through its const functions, which ICU
 * documents as thread-safe ("functions that take a const USpoofChecker are thread safe"), so the
 * HTTP threads and workers share one without a lock. */
#define LOG_MODULE "email"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>

#include "server/core/core.h"

/* Set once by icu_setup(); read-only afterwards. */
static const UNormalizer2 *nfkc_cf;
static USpoofChecker *spoof;
static int icu_ready;
static pthread_once_t icu_once = PTHREAD_ONCE_INIT;

static void icu_setup(void)
{
    UErrorCode st = U_ZERO_ERROR;
    nfkc_cf = unorm2_getNFKCCasefoldInstance(&st);
    if (U_FAILURE(st)) {
        LOG(SRV_LOG_ERROR, "ICU has no NFKC_Casefold normaliser: %s", u_errorName(st));
        return;
    }
    spoof = uspoof_open(&st);
    /* Restriction level: one script per part, or Latin with Han/Kana/Hangul (UTS #39 §5.2
     * "highly restrictive"). Invisible: repeated combining marks. Mixed numbers: digits of two
     * numbering systems. Whole-script confusables are caught by the skeleton test below. */
    uspoof_setChecks(spoof, USPOOF_RESTRICTION_LEVEL | USPOOF_INVISIBLE | USPOOF_MIXED_NUMBERS,
                     &st);
    uspoof_setRestrictionLevel(spoof, USPOOF_HIGHLY_RESTRICTIVE);
    if (U_FAILURE(st)) {
        LOG(SRV_LOG_ERROR, "ICU spoof checker: %s", u_errorName(st));
        uspoof_close(spoof);
        spoof = NULL;
        return;
    }
    icu_ready = 1;
}

static int ascii_only(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/* The UTS #39 verdict on one part of a key (local part or domain), known to hold non-ASCII. */
static enum srv_email_err part_check(const char *part, size_t len)
{
    UErrorCode st = U_ZERO_ERROR;
    char small[1024], *skel = small;
    enum srv_email_err rc = SRV_EMAIL_EINTERNAL;
    if (uspoof_check2UTF8(spoof, part, (int32_t)len, NULL, &st) != 0 && U_SUCCESS(st)) {
        rc = SRV_EMAIL_EMIXED;
        goto out;
    }
    if (U_FAILURE(st))
        goto out;
    /* The skeleton is what the part looks like; it may be longer than the part. */
    int32_t n = uspoof_getSkeletonUTF8(spoof, 0, part, (int32_t)len, skel, sizeof small, &st);
    if (st == U_BUFFER_OVERFLOW_ERROR) {
        st = U_ZERO_ERROR;
        if (!(skel = malloc((size_t)n + 1)))
            goto out;
        n = uspoof_getSkeletonUTF8(spoof, 0, part, (int32_t)len, skel, n + 1, &st);
    }
    if (U_FAILURE(st))
        goto out;
    /* Non-ASCII that looks all-ASCII ("alıce", Cyrillic "аре") can only pass for an ASCII
     * address, which may be someone else's. */
    rc = ascii_only(skel, (size_t)n) ? SRV_EMAIL_ELOOKALIKE : SRV_EMAIL_OK;
out:
    if (skel != small)
        free(skel);
    return rc;
}

enum srv_email_err srv_email_key(const char *email, char key[STORE_EMAIL_MAX])
{
    UChar in[STORE_EMAIL_MAX], out[STORE_EMAIL_MAX];
    int32_t in_len = 0, out_len = 0, key_len = 0;
    UErrorCode st = U_ZERO_ERROR;
    size_t len = strlen(email);
    enum srv_email_err rc = SRV_EMAIL_EINVALID;
    key[0] = '\0';
    if (len >= STORE_EMAIL_MAX || !srv_utf8_valid(email, len))
        goto out;
    if (ascii_only(email, len)) {
        /* NFKC_Casefold of ASCII is ASCII lower case: no ICU, and keys of old stores stay */
        for (size_t i = 0; i <= len; i++)
            key[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32 : email[i]);
        rc = srv_email_valid(key) ? SRV_EMAIL_OK : SRV_EMAIL_EINVALID;
        goto out;
    }
    pthread_once(&icu_once, icu_setup);
    rc = SRV_EMAIL_EINTERNAL;
    if (!icu_ready)
        goto out;
    /* UTF-16 never takes more units than UTF-8 takes bytes, so `in` holds any email that fits */
    u_strFromUTF8(in, STORE_EMAIL_MAX, &in_len, email, (int32_t)len, &st);
    if (U_FAILURE(st))
        goto out;
    out_len = unorm2_normalize(nfkc_cf, in, in_len, out, STORE_EMAIL_MAX, &st);
    if (st == U_BUFFER_OVERFLOW_ERROR || st == U_STRING_NOT_TERMINATED_WARNING) {
        rc = SRV_EMAIL_ETOOLONG;
        goto out;
    }
    if (U_FAILURE(st))
        goto out;
    u_strToUTF8(key, STORE_EMAIL_MAX, &key_len, out, out_len, &st);
    if (st == U_BUFFER_OVERFLOW_ERROR || st == U_STRING_NOT_TERMINATED_WARNING) {
        rc = SRV_EMAIL_ETOOLONG;
        goto out;
    }
    if (U_FAILURE(st))
        goto out;
    /* The shape is judged on the key: compatibility forms bring their own '@' ("＠", which
     * counts as one), spaces (no-break space) or controls. */
    rc = SRV_EMAIL_EINVALID;
    if (!srv_email_valid(key))
        goto out;
    const char *at = strchr(key, '@');
    size_t local = (size_t)(at - key), domain = strlen(at + 1);
    /* Plain ASCII parts are never judged by look: "clan" and "dan" stay two addresses. */
    if (!ascii_only(key, local) && (rc = part_check(key, local)) != SRV_EMAIL_OK)
        goto out;
    if (!ascii_only(at + 1, domain) && (rc = part_check(at + 1, domain)) != SRV_EMAIL_OK)
        goto out;
    rc = SRV_EMAIL_OK;
out:
    if (rc != SRV_EMAIL_OK)
        key[0] = '\0';
    return rc;
}

const char *srv_email_strerror(enum srv_email_err err)
{
    switch (err) {
    case SRV_EMAIL_OK:
        return "ok";
    case SRV_EMAIL_EINVALID:
        return "email is not a valid address";
    case SRV_EMAIL_ETOOLONG:
        return "email is longer than 320 bytes once normalised (NFKC)";
    case SRV_EMAIL_EMIXED:
        return "email mixes scripts in its local part or domain (UTS #39 highly restrictive)";
    case SRV_EMAIL_ELOOKALIKE:
        return "email is written with characters that only imitate a plain ASCII address";
    case SRV_EMAIL_EINTERNAL:
        break;
    }
    return "email could not be checked";
}
