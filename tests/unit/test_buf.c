/* Unit tests for buf/: the invariants buf.h promises (always NUL-terminated, failure sticky,
 * nothing cut short) and the growth policy the writers of keys/ and server/ rely on. */
#include "buf/buf.h"
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

TEST(test_empty)
{
    struct buf b = {0};
    size_t len = 7;
    CHECK(buf_take(&b, &len) == NULL); /* nothing appended: no text */
    CHECK_INT(len, 7);
    buf_free(&b); /* a zeroed buffer frees */
    CHECK(b.data == NULL);
    /* a reservation alone makes the empty string */
    CHECK_INT(buf_reserve(&b, 10), BUF_OK);
    CHECK_STR(b.data, "");
    char *s = buf_take(&b, &len);
    CHECK_STR(s, "");
    CHECK_INT(len, 0);
    free(s);
}

TEST(test_append)
{
    struct buf b = {0};
    buf_appends(&b, "abc");
    CHECK_INT(b.cap, BUF_FIRST);
    buf_append(&b, "d\0e", 3); /* bytes, NULs included */
    CHECK_INT(b.len, 6);
    CHECK(memcmp(b.data, "abcd\0e", 7) == 0); /* and the NUL after them */
    buf_append(&b, "", 0);
    CHECK_INT(b.len, 6);
    size_t len = 0;
    char *s = buf_take(&b, &len);
    CHECK(s != NULL);
    CHECK_INT(len, 6);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && !b.failed);
    free(s);
}

TEST(test_growth_doubles)
{
    struct buf b = {0};
    char chunk[100];
    memset(chunk, 'x', sizeof chunk);
    /* exactly full, NUL included, before the first doubling */
    buf_append(&b, chunk, 99);
    buf_append(&b, chunk, 99);
    buf_append(&b, chunk, BUF_FIRST - 1 - 198);
    CHECK_INT(b.len, BUF_FIRST - 1);
    CHECK_INT(b.cap, BUF_FIRST);
    buf_append(&b, "y", 1);
    CHECK_INT(b.cap, 2 * BUF_FIRST);
    /* a large append doubles as often as it must, once */
    char *big = malloc(5000);
    CHECK(big != NULL);
    memset(big, 'z', 5000);
    buf_append(&b, big, 5000);
    free(big);
    CHECK_INT(b.len, BUF_FIRST + 5000);
    CHECK_INT(b.cap, 8192);
    CHECK_INT(strlen(b.data), b.len);
    CHECK(b.data[BUF_FIRST - 1] == 'y' && b.data[b.len - 1] == 'z');
    buf_free(&b);
}

TEST(test_reserve)
{
    struct buf b = {0};
    CHECK_INT(buf_reserve(&b, 2047), BUF_OK); /* the HTML writer's first capacity */
    CHECK_INT(b.cap, 2048);
    buf_appends(&b, "abc");
    CHECK_INT(buf_reserve(&b, 2044), BUF_OK); /* fits: nothing moves */
    CHECK_INT(b.cap, 2048);
    CHECK_INT(buf_reserve(&b, 2045), BUF_OK);
    CHECK_INT(b.cap, 4096);
    CHECK_STR(b.data, "abc");
    buf_free(&b);
}

TEST(test_appendf)
{
    struct buf b = {0};
    buf_appendf(&b, "%s=%d", "n", 42); /* into an empty buffer */
    CHECK_STR(b.data, "n=42");
    CHECK_INT(b.len, 4);
    CHECK_INT(b.cap, BUF_FIRST);
    /* exactly the spare room less the NUL: formatted in place */
    size_t room = b.cap - b.len - 1;
    buf_appendf(&b, "%*s", (int)room, "|");
    CHECK_INT(b.len, BUF_FIRST - 1);
    CHECK_INT(b.cap, BUF_FIRST);
    CHECK(b.data[b.len - 1] == '|' && b.data[b.len] == '\0');
    /* one byte over: grows, formats again, nothing cut short */
    buf_appendf(&b, "%s", "ab");
    CHECK_INT(b.len, BUF_FIRST + 1);
    CHECK_INT(b.cap, 2 * BUF_FIRST);
    CHECK(strcmp(b.data + BUF_FIRST - 1, "ab") == 0);
    /* longer than the spare room by far */
    buf_appendf(&b, "<%01000d>", 7);
    CHECK_INT(b.len, BUF_FIRST + 1 + 1002);
    CHECK(b.data[b.len - 2] == '7' && b.data[b.len - 1] == '>' && b.data[b.len] == '\0');
    CHECK_INT(strlen(b.data), b.len);
    buf_free(&b);
}

TEST(test_failure_sticks)
{
    struct buf b = {0};
    buf_appends(&b, "abc");
    size_t cap = b.cap;
    /* len + more + 1 would wrap around */
    CHECK_INT(buf_reserve(&b, SIZE_MAX - 1), BUF_ENOMEM);
    CHECK_INT(b.failed, BUF_ENOMEM);
    /* the text is as it was, still a C string */
    CHECK_STR(b.data, "abc");
    CHECK_INT(b.len, 3);
    CHECK_INT(b.cap, cap);
    /* and every later call is a no-op that answers the failure */
    buf_appends(&b, "def");
    buf_appendf(&b, "%d", 1);
    CHECK_STR(b.data, "abc");
    CHECK_INT(buf_reserve(&b, 1), BUF_ENOMEM);
    size_t len = 99;
    CHECK(buf_take(&b, &len) == NULL); /* the text is freed */
    CHECK_INT(len, 99);
    CHECK(b.data == NULL && !b.failed);
    /* a doubling that would wrap around fails too */
    buf_appends(&b, "abc");
    CHECK_INT(buf_reserve(&b, SIZE_MAX - 8), BUF_ENOMEM);
    CHECK_STR(b.data, "abc");
    buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && !b.failed);
}

TEST(test_strerror)
{
    CHECK_STR(buf_strerror(BUF_OK), "success");
    CHECK_STR(buf_strerror(BUF_ENOMEM), "out of memory");
    CHECK(buf_strerror(BUF_EFORMAT) != NULL);
    CHECK(buf_strerror(-1) != NULL);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    RUN(test_empty);
    RUN(test_append);
    RUN(test_growth_doubles);
    RUN(test_reserve);
    RUN(test_appendf);
    RUN(test_failure_sticks);
    RUN(test_strerror);
    return th_done();
}
