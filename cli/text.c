/* text.c: names from file systems and data sets written into JSON, HTML and SVG: valid
 * UTF-8 whatever the bytes, escaped for each format. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* U+FFFD, which stands for every byte that is not part of valid UTF-8. */
static const char replacement[] = "\xEF\xBF\xBD";

/* The length (1 to 4) of the well-formed UTF-8 sequence at s, or 0 if s[0] starts none:
 * Unicode's table of well-formed byte sequences, which excludes overlong forms, surrogates
 * (U+D800..U+DFFF) and code points above U+10FFFF. s is NUL-terminated, and NUL is never a
 * continuation byte, so nothing past the end is read. */
static size_t utf8_sequence(const unsigned char *s)
{
    const unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80; /* no overlong forms */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0, C1 (always overlong) or F5..FF */
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

size_t cli_utf8_check(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) { /* s[n] is NUL: a sequence cut by the end fails */
        size_t len = p[i] ? utf8_sequence(p + i) : 0;
        if (!len)
            return i;
        i += len;
    }
    return n;
}

char *cli_utf8_copy(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(3 * strlen(s) + 1), *o = out; /* each byte becomes at most 3 */
    while (out && *p) {
        size_t n = utf8_sequence(p);
        memcpy(o, n ? (const char *)p : replacement, n ? n : 3);
        o += n ? n : 3;
        p += n ? n : 1;
    }
    if (out)
        *o = '\0';
    return out;
}

/* Writes s as valid UTF-8 (see cli_utf8_copy), passing each ASCII character to `ascii`,
 * which escapes it for the format. */
static void write_utf8(FILE *f, const char *s, void (*ascii)(FILE *, unsigned char))
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_sequence(p);
        if (n == 1)
            ascii(f, *p);
        else
            fwrite(n ? (const char *)p : replacement, 1, n ? n : 3, f);
        p += n ? n : 1;
    }
}

static void xml_ascii(FILE *f, unsigned char c)
{
    if (c == '<')
        fputs("&lt;", f);
    else if (c == '>')
        fputs("&gt;", f);
    else if (c == '&')
        fputs("&amp;", f);
    else if (c == '"')
        fputs("&quot;", f);
    else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
        fputs(replacement, f); /* control characters are not allowed in XML (SVG) */
    else
        fputc(c, f);
}

void cli_xml_text(FILE *f, const char *s)
{
    write_utf8(f, s, xml_ascii);
}

static void json_ascii(FILE *f, unsigned char c)
{
    if (c == '"' || c == '\\')
        fprintf(f, "\\%c", c);
    else if (c < 0x20)
        fprintf(f, "\\u%04x", c);
    else
        fputc(c, f);
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    write_utf8(f, s, json_ascii);
    fputc('"', f);
}

bool cli_ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

char *cli_snippet(const char *s, size_t max)
{
    size_t len = strlen(s), cut = len;
    if (len > max) { /* at a code point's start, never inside one */
        cut = max;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    char *out = malloc(cut + 4);
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < cut; i++) {
        /* control characters as spaces: C0 (tabs, newlines), DEL, C1 (U+0080..U+009F, which
         * terminals obey) and the bidirectional overrides and isolates (U+202A..U+202E,
         * U+2066..U+2069), which would reorder the line around them */
        size_t width = u[i] < 0x20 || u[i] == 0x7F                                ? 1
                       : u[i] == 0xC2 && i + 1 < cut && u[i + 1] >= 0x80 &&
                               u[i + 1] <= 0x9F                                  ? 2
                       : u[i] == 0xE2 && i + 2 < cut &&
                               ((u[i + 1] == 0x80 && u[i + 2] >= 0xAA && u[i + 2] <= 0xAE) ||
                                (u[i + 1] == 0x81 && u[i + 2] >= 0xA6 && u[i + 2] <= 0xA9))
                           ? 3
                           : 0;
        if (!width) {
            out[i] = s[i];
            continue;
        }
        memset(out + i, ' ', width);
        i += width - 1;
    }
    strcpy(out + cut, cut < len ? "\xE2\x80\xA6" : ""); /* ... */
    return out;
}

void cli_print_snippet(FILE *f, const char *s, size_t max)
{
    char *snip = s ? cli_snippet(s, max) : NULL;
    if (snip) {
        char *valid = cli_utf8_copy(snip);
        fputs(valid ? valid : "", f);
        free(valid);
    }
    free(snip);
}
