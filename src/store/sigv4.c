/*
 * sigv4.c - AWS Signature Version 4 for the S3 requests that libcurl 7.88
 * cannot sign: its CURLOPT_AWS_SIGV4 sorts the signed headers as whole
 * "name:value" lines, so x-amz-copy-source-range comes before
 * x-amz-copy-source (':' sorts after '-'), and the server, which sorts by
 * name, finds the signature wrong (403 SignatureDoesNotMatch). UploadPartCopy
 * needs those three headers; s3.c signs it here and sends the Authorization
 * line itself. SHA-256 (FIPS 180-4) and HMAC (RFC 2104) are here too: no
 * crypto library to load for them; and MD5, for the ETag of a multipart
 * object, which radosgw 16.2 does not give in CompleteMultipartUpload's
 * reply.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed */
	unsigned char block[64];
	size_t fill;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2};

static uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha_block(struct sha256 *c, const unsigned char *p)
{
	uint32_t w[64], v[8];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, c->h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t s1 = ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25);
		uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
		uint32_t t1 = v[7] + s1 + ch + K[i] + w[i];
		uint32_t s0 = ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22);
		uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + s0 + maj;
	}
	for (int i = 0; i < 8; i++)
		c->h[i] += v[i];
}

static void sha_init(struct sha256 *c)
{
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(c->h, h0, sizeof(h0));
	c->len = 0;
	c->fill = 0;
}

static void sha_add(struct sha256 *c, const void *data, size_t n)
{
	const unsigned char *p = data;
	c->len += n;
	while (n) {
		size_t take = 64 - c->fill < n ? 64 - c->fill : n;
		memcpy(c->block + c->fill, p, take);
		c->fill += take;
		p += take;
		n -= take;
		if (c->fill == 64) {
			sha_block(c, c->block);
			c->fill = 0;
		}
	}
}

static void sha_end(struct sha256 *c, unsigned char out[32])
{
	uint64_t bits = c->len * 8;
	unsigned char pad[72] = {0x80};
	size_t padlen = (c->fill < 56 ? 56 : 120) - c->fill;
	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
	sha_add(c, pad, padlen + 8);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (unsigned char)(c->h[i] >> (24 - 8 * j));
}

/* hmac - HMAC-SHA256 of msg under key, into out. */
static void hmac(const void *key, size_t klen, const void *msg, size_t n, unsigned char out[32])
{
	unsigned char k[64] = {0}, pad[64], inner[32];
	struct sha256 c;
	if (klen > 64) {
		sha_init(&c);
		sha_add(&c, key, klen);
		sha_end(&c, k);
	} else {
		memcpy(k, key, klen);
	}
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha_init(&c);
	sha_add(&c, pad, 64);
	sha_add(&c, msg, n);
	sha_end(&c, inner);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha_init(&c);
	sha_add(&c, pad, 64);
	sha_add(&c, inner, 32);
	sha_end(&c, out);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/*
 * sigv4_sign - the "Authorization: AWS4-HMAC-SHA256 ..." header line of an
 * S3 request with an unsigned payload, into out (size bytes). path and
 * query are as sent (escaped; the query's parameters in order, each
 * "name=value"); headers[0..n) are the signed headers as "name:value",
 * names in lowercase and in order, values trimmed; amz_date is the
 * x-amz-date among them (YYYYMMDDTHHMMSSZ). Return: 0, or -ENOMEM if a
 * string did not fit.
 */
int sigv4_sign(const char *method, const char *path, const char *query,
	       const char *const headers[], size_t n, const char *key_id, const char *secret,
	       const char *region, const char *amz_date, char *out, size_t size)
{
	struct sha256 c;
	char names[512] = "", scope[128], digest[65], tosign[512], sig[65];
	unsigned char h[32], key[32];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *colon = strchr(headers[i], ':');
		int len = colon ? (int)(colon - headers[i]) : (int)strlen(headers[i]);
		k += (size_t)snprintf(names + k, k < sizeof(names) ? sizeof(names) - k : 0,
				      "%s%.*s", i ? ";" : "", len, headers[i]);
	}
	if (k >= sizeof(names))
		return -ENOMEM;
	sha_init(&c); /* the canonical request's hash */
	sha_add(&c, method, strlen(method));
	sha_add(&c, "\n", 1);
	sha_add(&c, path, strlen(path));
	sha_add(&c, "\n", 1);
	sha_add(&c, query, strlen(query));
	sha_add(&c, "\n", 1);
	for (size_t i = 0; i < n; i++) {
		sha_add(&c, headers[i], strlen(headers[i]));
		sha_add(&c, "\n", 1);
	}
	sha_add(&c, "\n", 1);
	sha_add(&c, names, strlen(names));
	sha_add(&c, "\nUNSIGNED-PAYLOAD", 17);
	sha_end(&c, h);
	hex(h, 32, digest);
	if ((size_t)snprintf(scope, sizeof(scope), "%.8s/%s/s3/aws4_request", amz_date, region) >=
		    sizeof(scope) ||
	    (size_t)snprintf(tosign, sizeof(tosign), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date,
			     scope, digest) >= sizeof(tosign))
		return -ENOMEM;
	char first[256];
	if ((size_t)snprintf(first, sizeof(first), "AWS4%s", secret) >= sizeof(first))
		return -ENOMEM;
	hmac(first, strlen(first), amz_date, 8, key); /* the signing key */
	explicit_bzero(first, sizeof(first));
	hmac(key, 32, region, strlen(region), key);
	hmac(key, 32, "s3", 2, key);
	hmac(key, 32, "aws4_request", 12, key);
	hmac(key, 32, tosign, strlen(tosign), h);
	explicit_bzero(key, sizeof(key));
	hex(h, 32, sig);
	int len = snprintf(out, size,
			   "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
			   "Signature=%s",
			   key_id, scope, names, sig);
	return len < 0 || (size_t)len >= size ? -ENOMEM : 0;
}

/* ---- MD5 (RFC 1321), for the ETag of a multipart object -------------------- */

static const uint32_t MD5_K[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
	0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
	0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
	0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
	0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
	0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
	0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
	0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
	0xeb86d391};
static const unsigned char MD5_S[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const unsigned char *p)
{
	uint32_t m[16], v[4];
	for (int i = 0; i < 16; i++)
		m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
		       (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
	memcpy(v, h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t f, b = v[1], c = v[2], d = v[3];
		int g;
		if (i < 16)
			f = (b & c) | (~b & d), g = i;
		else if (i < 32)
			f = (d & b) | (~d & c), g = (5 * i + 1) % 16;
		else if (i < 48)
			f = b ^ c ^ d, g = (3 * i + 5) % 16;
		else
			f = c ^ (b | ~d), g = (7 * i) % 16;
		f += v[0] + MD5_K[i] + m[g];
		unsigned s = MD5_S[(i / 16) * 4 + i % 4];
		v[0] = d;
		v[3] = c;
		v[2] = b;
		v[1] = b + ((f << s) | (f >> (32 - s)));
	}
	for (int i = 0; i < 4; i++)
		h[i] += v[i];
}

/* md5 - the MD5 digest of data[0..n) into out. */
void md5(const void *data, size_t n, unsigned char out[16])
{
	uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
	const unsigned char *p = data;
	size_t left = n;
	for (; left >= 64; p += 64, left -= 64)
		md5_block(h, p);
	unsigned char last[128] = {0};
	memcpy(last, p, left);
	last[left] = 0x80;
	size_t total = left < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)n * 8;
	for (int i = 0; i < 8; i++)
		last[total - 8 + i] = (unsigned char)(bits >> (8 * i));
	md5_block(h, last);
	if (total == 128)
		md5_block(h, last + 64);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (unsigned char)(h[i] >> (8 * j));
}
