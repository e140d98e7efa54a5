// Candidate frame MACs for authenticated replication (issue 13), per frame size, on this machine:
// the figures that chose net-dpdk's frame MAC (docs/ARCHITECTURE.md §9.2, BENCHMARKS.md). Each
// computes a 16-byte tag over one frame (header and body) as the codec would, key set up once;
// unkeyed XXH3-64 and XXH3-128 (the frame hash they replace) are the baseline in the same run.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <xxhash.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

std::vector<unsigned char> frame_of(std::size_t n) {
    std::vector<unsigned char> f(n);
    for (std::size_t i = 0; i < n; ++i) f[i] = static_cast<unsigned char>(i * 131 + 7);
    return f;
}

const std::array<unsigned char, 32> kKey = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                            17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

void sizes(benchmark::internal::Benchmark* b) {
    for (long n : {64, 256, 1024, 1500, 4096, 9000}) b->Arg(n);
}

void BM_Xxh3_64(benchmark::State& st) {
    auto f = frame_of(st.range(0));
    for (auto _ : st) benchmark::DoNotOptimize(XXH3_64bits(f.data(), f.size()));
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_Xxh3_64)->Apply(sizes);

void BM_Xxh3_128(benchmark::State& st) {
    auto f = frame_of(st.range(0));
    for (auto _ : st) benchmark::DoNotOptimize(XXH3_128bits(f.data(), f.size()));
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_Xxh3_128)->Apply(sizes);

// libsodium keyed BLAKE2b, 16-byte tag.
void BM_Sodium_Blake2b(benchmark::State& st) {
    if (sodium_init() < 0) return;
    auto f = frame_of(st.range(0));
    unsigned char tag[16];
    for (auto _ : st) {
        crypto_generichash(tag, sizeof tag, f.data(), f.size(), kKey.data(), kKey.size());
        benchmark::DoNotOptimize(tag);
    }
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_Sodium_Blake2b)->Apply(sizes);

// libsodium crypto_auth: HMAC-SHA512-256.
void BM_Sodium_Auth(benchmark::State& st) {
    if (sodium_init() < 0) return;
    auto f = frame_of(st.range(0));
    unsigned char tag[crypto_auth_BYTES];
    for (auto _ : st) {
        crypto_auth(tag, f.data(), f.size(), kKey.data());
        benchmark::DoNotOptimize(tag);
    }
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_Sodium_Auth)->Apply(sizes);

// libsodium Poly1305 with a per-frame key from ChaCha20 (nonce: sender, session, counter).
void BM_Sodium_ChachaPoly1305(benchmark::State& st) {
    if (sodium_init() < 0) return;
    auto f = frame_of(st.range(0));
    unsigned char tag[16], otk[32], nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
    std::uint64_t ctr = 0;
    for (auto _ : st) {
        ++ctr;
        std::memcpy(nonce + 4, &ctr, 8);
        crypto_stream_chacha20_ietf(otk, sizeof otk, nonce, kKey.data());
        crypto_onetimeauth_poly1305(tag, f.data(), f.size(), otk);
        benchmark::DoNotOptimize(tag);
    }
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_Sodium_ChachaPoly1305)->Apply(sizes);

// OpenSSL HMAC-SHA256 (SHA-NI), a context keyed once and reinitialised per frame.
void BM_OpenSSL_HmacSha256(benchmark::State& st) {
    auto f = frame_of(st.range(0));
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* base = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>("SHA256"), 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_init(base, kKey.data(), kKey.size(), params);
    unsigned char tag[32];
    std::size_t len = 0;
    for (auto _ : st) {
        EVP_MAC_CTX* c = EVP_MAC_CTX_dup(base);
        EVP_MAC_update(c, f.data(), f.size());
        EVP_MAC_final(c, tag, &len, sizeof tag);
        EVP_MAC_CTX_free(c);
        benchmark::DoNotOptimize(tag);
    }
    EVP_MAC_CTX_free(base);
    EVP_MAC_free(mac);
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_OpenSSL_HmacSha256)->Apply(sizes);

// OpenSSL AES-128-GMAC (AES-GCM with the frame as AAD, no plaintext): one cipher context keyed
// once, a fresh 12-byte IV per frame (nonce: sender, session, counter).
void BM_OpenSSL_AesGmac(benchmark::State& st) {
    auto f = frame_of(st.range(0));
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), nullptr, kKey.data(), nullptr);
    unsigned char iv[12] = {}, tag[16];
    std::uint64_t ctr = 0;
    int outl = 0;
    for (auto _ : st) {
        ++ctr;
        std::memcpy(iv + 4, &ctr, 8);
        EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv);
        EVP_EncryptUpdate(c, nullptr, &outl, f.data(), static_cast<int>(f.size()));
        EVP_EncryptFinal_ex(c, tag, &outl);
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
        benchmark::DoNotOptimize(tag);
    }
    EVP_CIPHER_CTX_free(c);
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_OpenSSL_AesGmac)->Apply(sizes);

// OpenSSL ChaCha20-Poly1305 AEAD with the frame as AAD (per-frame key derived inside).
void BM_OpenSSL_ChachaPoly1305(benchmark::State& st) {
    auto f = frame_of(st.range(0));
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), nullptr, kKey.data(), nullptr);
    unsigned char iv[12] = {}, tag[16];
    std::uint64_t ctr = 0;
    int outl = 0;
    for (auto _ : st) {
        ++ctr;
        std::memcpy(iv + 4, &ctr, 8);
        EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv);
        EVP_EncryptUpdate(c, nullptr, &outl, f.data(), static_cast<int>(f.size()));
        EVP_EncryptFinal_ex(c, tag, &outl);
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag);
        benchmark::DoNotOptimize(tag);
    }
    EVP_CIPHER_CTX_free(c);
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_OpenSSL_ChachaPoly1305)->Apply(sizes);

// libsodium AES-256-GCM (AES-NI) with the frame as additional data and no message: GMAC, its key
// schedule precomputed once (beforenm).
void BM_Sodium_Aes256Gmac(benchmark::State& st) {
    if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available()) {
        st.SkipWithError("no AES-NI");
        return;
    }
    auto f = frame_of(st.range(0));
    crypto_aead_aes256gcm_state ks;
    crypto_aead_aes256gcm_beforenm(&ks, kKey.data());
    unsigned char npub[crypto_aead_aes256gcm_NPUBBYTES] = {}, tag[16];
    unsigned long long taglen = 0;
    std::uint64_t ctr = 0;
    for (auto _ : st) {
        ++ctr;
        std::memcpy(npub + 4, &ctr, 8);
        crypto_aead_aes256gcm_encrypt_detached_afternm(nullptr, tag, &taglen, nullptr, 0, f.data(), f.size(), nullptr,
                                                       npub, &ks);
        benchmark::DoNotOptimize(tag);
    }
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_Sodium_Aes256Gmac)->Apply(sizes);

// OpenSSL AES-256-GMAC: the same as AES-128 with the whole 32-byte cluster key.
void BM_OpenSSL_Aes256Gmac(benchmark::State& st) {
    auto f = frame_of(st.range(0));
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, kKey.data(), nullptr);
    unsigned char iv[12] = {}, tag[16];
    std::uint64_t ctr = 0;
    int outl = 0;
    for (auto _ : st) {
        ++ctr;
        std::memcpy(iv + 4, &ctr, 8);
        EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv);
        EVP_EncryptUpdate(c, nullptr, &outl, f.data(), static_cast<int>(f.size()));
        EVP_EncryptFinal_ex(c, tag, &outl);
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
        benchmark::DoNotOptimize(tag);
    }
    EVP_CIPHER_CTX_free(c);
    st.SetBytesProcessed(st.iterations() * st.range(0));
}
BENCHMARK(BM_OpenSSL_Aes256Gmac)->Apply(sizes);

} // namespace
