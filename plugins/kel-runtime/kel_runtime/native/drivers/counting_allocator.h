// counting_allocator.h -- counts heap allocations made on the thread that sets counting::audio (the malloc family,
// which Eigen and RTNeural call directly, and every operator new). Include in exactly one translation unit of a test
// program. Sanitizer builds define KEL_NO_MALLOC_HOOKS (the sanitizers own malloc) and count nothing.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace counting {
thread_local bool audio = false;
long long allocations = 0;   // written by the audio thread only
inline void note() noexcept {
    if (audio)
        ++allocations;
}
}  // namespace counting

#if defined(__GLIBC__) && !defined(KEL_NO_MALLOC_HOOKS)
#include <cerrno>
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
void* malloc(std::size_t n) {
    counting::note();
    return __libc_malloc(n);
}
void* calloc(std::size_t count, std::size_t n) {
    counting::note();
    return __libc_calloc(count, n);
}
void* realloc(void* p, std::size_t n) {
    counting::note();
    return __libc_realloc(p, n);
}
void* memalign(std::size_t align, std::size_t n) {
    counting::note();
    return __libc_memalign(align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
    counting::note();
    return __libc_memalign(align, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
    counting::note();
    void* p = __libc_memalign(align, n);
    if (p == nullptr)
        return ENOMEM;
    *out = p;
    return 0;
}
void free(void* p) { __libc_free(p); }
}
#define KEL_COUNTS_MALLOC 1
#else
#define KEL_COUNTS_MALLOC 0
#endif

#if !defined(KEL_NO_MALLOC_HOOKS)
static void* allocate(std::size_t size, std::size_t align) {
#if !KEL_COUNTS_MALLOC
    counting::note();
#endif
    void* p = nullptr;
    if (posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, size == 0 ? 1 : size) != 0)
        throw std::bad_alloc();
    return p;
}
void* operator new(std::size_t n) { return allocate(n, 16); }
void* operator new[](std::size_t n) { return allocate(n, 16); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#endif

