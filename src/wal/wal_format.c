/*
 * wal_format.c - the WAL's on-disk format: segment header, record header,
 * segment file names.
 *
 * SEGMENT FILE  "<start>.wal", start = 20-digit zero-padded decimal global
 * offset of its first record (so names sort like offsets), size fixed at
 * creation when preallocated (segment_bytes), else growing.
 *
 *   byte  size  field (integers little-endian)
 *      0     8  magic "STEMEWAL"
 *      8     4  format version, 1
 *     12     4  header size, 64
 *     16     8  start: global offset of the first record (= the name)
 *     24     8  segment_bytes at creation (informational, not trusted)
 *     32    28  reserved, zero
 *     60     4  CRC-32C of bytes 0..59
 *     64     .  records, back to back, then zeros to the end of the file
 *
 * RECORD  (spec 8)   [len u32][crc32c u32 of payload][blake3-256 of payload][payload]
 *   len >= 1 (appends refuse empty payloads), so a zero length word marks
 *   the end of the data in a preallocated (zero-filled / fallocated) file.
 *   The record at file position p has global offset start + (p - 64); a
 *   record never straddles segments.
 *
 * VALIDITY. A header is valid when magic, version, header size and its CRC
 * match and `start` equals the name. A record is valid when it lies wholly
 * inside the file, len >= 1, the CRC-32C matches and then the BLAKE3
 * matches (CRC first: it is ~50x cheaper and catches torn writes). The data
 * of a segment is its longest prefix of valid records; every byte after it
 * must be zero (anything else is damage; see wal_recover.c).
 */
#include "core/bytes.h"
#include "wal/wal_int.h"

#include <stdio.h>
#include <string.h>
#include "steme/hash.h"

static const uint8_t wal_magic[8] = { 'S', 'T', 'E', 'M', 'E', 'W', 'A', 'L' };




void wal_seg_header_encode(uint8_t hdr[WAL_SEG_HDR], uint64_t start, uint64_t seg_bytes)
{
    memset(hdr, 0, WAL_SEG_HDR);
    memcpy(hdr, wal_magic, sizeof wal_magic);
    bytes_put_le(hdr + 8, WAL_VERSION, 4);
    bytes_put_le(hdr + 12, WAL_SEG_HDR, 4);
    bytes_put_le(hdr + 16, start, 8);
    bytes_put_le(hdr + 24, seg_bytes, 8);
    bytes_put_le(hdr + 60, steme_crc32c(0, hdr, 60), 4);
}

int wal_seg_header_decode(const uint8_t hdr[WAL_SEG_HDR], uint64_t *start, steme_error *err)
{
    if (memcmp(hdr, wal_magic, sizeof wal_magic) != 0)
        return STEME_CORRUPT(err, "segment header: bad magic");
    uint32_t crc = steme_crc32c(0, hdr, 60);
    if (crc != wal_le32(hdr + 60))
        return STEME_CORRUPT(err, "segment header: checksum mismatch");
    if (wal_le32(hdr + 8) != WAL_VERSION)
        return steme_err(err, STEME_E_VERSION, "segment header: unsupported version %u",
                         (unsigned)wal_le32(hdr + 8));
    if (wal_le32(hdr + 12) != WAL_SEG_HDR)
        return STEME_CORRUPT(err, "segment header: header size %u, expected %u",
                             (unsigned)wal_le32(hdr + 12), (unsigned)WAL_SEG_HDR);
    *start = bytes_get_le(hdr + 16, 8);
    return STEME_OK;
}

void wal_rec_header_encode(uint8_t hdr[WAL_REC_HDR], const void *payload, size_t len)
{
    bytes_put_le(hdr, (uint32_t)len, 4);
    bytes_put_le(hdr + 4, steme_crc32c(0, payload, len), 4);
    steme_blake3_hash(payload, len, (steme_hash *)(void *)(hdr + 8));
}

int wal_rec_check(const uint8_t hdr[WAL_REC_HDR], const uint8_t *payload, size_t len)
{
    if (steme_crc32c(0, payload, len) != wal_le32(hdr + 4))
        return 1;
    steme_hash h;
    steme_blake3_hash(payload, len, &h);
    if (memcmp(h.bytes, hdr + 8, STEME_HASH_LEN) != 0)
        return 2;
    return 0;
}

void wal_seg_name(char *buf, size_t cap, uint64_t start)
{
    snprintf(buf, cap, "%020llu.wal", (unsigned long long)start);
}

int wal_seg_name_parse(const char *name, uint64_t *start)
{
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        char ch = name[i];
        if (ch < '0' || ch > '9')
            return 0;
        uint64_t d = (uint64_t)(ch - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (strcmp(name + 20, ".wal") != 0)
        return 0;
    *start = v;
    return 1;
}
