/* CIDR networks of service-account access lists (IPv4 and IPv6, by inet_pton).
 *
 * Host bits must be zero: "10.1.2.3/8" is refused rather than widened to 10.0.0.0/8, since an
 * admin who typed it more likely meant 10.1.2.3/32 than a network of 16 million addresses; the
 * error says which network the text names. A bare address is a single host (/32 or /128). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "server/core/core.h"

#define CIDR_TEXT_MAX 64 /* longest text looked at */

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_v4_mapped(const uint8_t a[16])
{
    for (size_t i = 0; i < sizeof v4_mapped; i++)
        if (a[i] != v4_mapped[i])
            return 0;
    return 1;
}

/* 1 when the bits of a past prefix are all zero. */
static int host_bits_zero(const uint8_t *a, size_t len, unsigned prefix)
{
    for (size_t i = 0; i < len; i++) {
        unsigned first = (unsigned)i * 8;
        uint8_t keep = prefix >= first + 8 ? 0xff
                       : prefix <= first   ? 0x00
                                           : (uint8_t)(0xff << (8 - (prefix - first)));
        if (a[i] & (uint8_t)~keep)
            return 0;
    }
    return 1;
}

int srv_cidr_parse(const char *text, struct srv_cidr *out, const char **why)
{
    char addr[CIDR_TEXT_MAX];
    const char *slash;
    size_t len = strlen(text);
    long prefix = -1;
    memset(out, 0, sizeof *out);
    *why = "not an IPv4 or IPv6 address or network";
    if (len == 0 || len >= sizeof addr)
        return 0;
    slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : len;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    if (slash) {
        const char *p = slash + 1;
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || digits > 3 || p[digits] != '\0') {
            *why = "the prefix length after / must be a number";
            return 0;
        }
        prefix = 0;
        for (size_t i = 0; i < digits; i++)
            prefix = prefix * 10 + (p[i] - '0');
    }
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = 4;
        if (prefix > 32) {
            *why = "an IPv4 prefix length is 0 to 32";
            return 0;
        }
        out->prefix = prefix < 0 ? 32 : (unsigned)prefix;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = 6;
        if (prefix > 128) {
            *why = "an IPv6 prefix length is 0 to 128";
            return 0;
        }
        out->prefix = prefix < 0 ? 128 : (unsigned)prefix;
        if (is_v4_mapped(out->addr) && out->prefix >= 96) {
            memmove(out->addr, out->addr + 12, 4);
            memset(out->addr + 4, 0, 12);
            out->family = 4;
            out->prefix -= 96;
        }
    } else {
        return 0;
    }
    if (!host_bits_zero(out->addr, out->family == 4 ? 4 : 16, out->prefix)) {
        *why = "the address has bits set past the prefix length (write the network address, "
               "or a /32 or /128 for one host)";
        return 0;
    }
    *why = NULL;
    return 1;
}

void srv_cidr_format(const struct srv_cidr *c, char out[STORE_CIDR_MAX])
{
    char a[INET6_ADDRSTRLEN] = "";
    inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof a);
    snprintf(out, STORE_CIDR_MAX, "%s/%u", a, c->prefix);
}

int srv_cidr_contains(const struct srv_cidr *c, const char *ip)
{
    uint8_t a[16] = {0};
    int family;
    if (!ip)
        return 0;
    if (inet_pton(AF_INET, ip, a) == 1) {
        family = 4;
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        family = 6;
        if (is_v4_mapped(a)) {
            memmove(a, a + 12, 4);
            memset(a + 4, 0, 12);
            family = 4;
        }
    } else {
        return 0;
    }
    if (family != c->family)
        return 0;
    for (unsigned bit = 0; bit < c->prefix; bit += 8) {
        unsigned left = c->prefix - bit;
        uint8_t mask = left >= 8 ? 0xff : (uint8_t)(0xff << (8 - left));
        if ((a[bit / 8] ^ c->addr[bit / 8]) & mask)
            return 0;
    }
    return 1;
}

void srv_addr_group(const char *ip, char out[64])
{
    uint8_t a[16];
    char text[INET6_ADDRSTRLEN];
    if (ip && strchr(ip, ':') && inet_pton(AF_INET6, ip, a) == 1) {
        memset(a + 8, 0, 8);
        if (inet_ntop(AF_INET6, a, text, sizeof text)) {
            snprintf(out, 64, "%s/64", text);
            return;
        }
    }
    snprintf(out, 64, "%s", ip ? ip : "");
}
