/*
 * core/crc32c_int.h - the CRC-32C kernels behind steme_crc32c (steme/hash.h),
 * exposed so tests can check each one on this machine.
 *
 * All take and return the public chained value (0 to start; inversion done
 * inside) and give identical results. The caller of a hardware kernel must
 * have checked the CPU (steme_cpu_has in core/cpu.h).
 */
#ifndef STEME_CORE_CRC32C_INT_H
#define STEME_CORE_CRC32C_INT_H

#include <stddef.h>
#include <stdint.h>

/* Reflected Castagnoli polynomial (0x1EDC6F41 bit-reversed). */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* Portable: slicing-by-8 tables (8 KiB, built once under pthread_once). */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);
/* SSE4.2 crc32 instruction, one stream of 8-byte steps. Needs SSE4.2. */
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len);
/*
 * SSE4.2 with three independent streams per block, recombined with a
 * carry-less multiply; the crc32 instruction has a latency of 3 cycles and
 * a throughput of 1, so three streams keep it busy. Needs SSE4.2 + PCLMUL.
 */
uint32_t crc32c_hw3(uint32_t crc, const void *data, size_t len);

/*
 * x^(8n-33) mod P, bit-reflected: the constant that shifts a CRC register
 * over n zero bytes in crc32c_hw3 (see crc32c.c). Exposed for the tests.
 */
uint32_t crc32c_shift_constant(size_t n);

#endif
