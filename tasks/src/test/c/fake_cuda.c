/*
 * A fake CUDA driver for moa's tests: the driver entry points the Java binding uses, implemented against host
 * memory, so the binding can be exercised for real (FFM linking, argument passing, out parameters, error
 * codes) on machines without a GPU. The tests compile it with gcc into a temporary libcuda.so.1.
 *
 * What it models, and nothing more:
 *   - device memory is malloc'ed host memory, 0xFF bytes (NaN as floats) until written (up to 256 MiB); copies and fills check they stay inside one allocation;
 *   - cuModuleLoadDataEx keeps the PTX text and fails with CUDA_ERROR_INVALID_PTX, writing a line to the JIT
 *     error log, when the text contains "INVALID"; kernels are found by their ".entry" name and their
 *     parameter sizes read from the ".param" list;
 *   - a launch records grid, block, shared bytes, stream and the parameter bytes (packed, in order) and counts
 *     one launch; under stream capture it becomes a graph node instead, and every replay of the graph counts its
 *     kernel nodes (copy and fill nodes are performed). It computes nothing unless a test installs a launch hook
 *     (fake_set_launch_hook), which then receives the kernel's PTX, entry name, geometry and parameter bytes and
 *     runs it on the fake's memory;
 *   - cuLaunchKernelEx takes one attribute, programmatic stream serialization (refused below compute capability
 *     9.0, as the instruction it pairs with does not exist there), and counts the launches (kernels run, alone or
 *     replayed) made with it;
 *   - it counts allocations, stream captures and graph launches, so a test can check a decode loop allocates
 *     nothing after its warm-up, captures once and replays once per step;
 *   - events report a fixed 1.25 ms between two recorded events;
 *   - only cuEventElapsedTime is exported, not its _v2 (like drivers before CUDA 12.8).
 * The fake_* functions let a test set up failures and read back what happened.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
    SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, NO_DEVICE = 100,
    INVALID_DEVICE = 101, INVALID_CONTEXT = 201, INVALID_PTX = 218, INVALID_HANDLE = 400,
    ILLEGAL_STATE = 401, NOT_FOUND = 500, ILLEGAL_ADDRESS = 700, LAUNCH_FAILED = 719, NOT_SUPPORTED = 801,
    STREAM_CAPTURE_UNSUPPORTED = 900, UNKNOWN = 999
};

static const struct { int code; const char *name; const char *text; } ERRORS[] = {
    {SUCCESS, "CUDA_SUCCESS", "no error"},
    {INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {ILLEGAL_STATE, "CUDA_ERROR_ILLEGAL_STATE", "operation not valid in the current state"},
    {NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {STREAM_CAPTURE_UNSUPPORTED, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
        "operation not permitted when stream is capturing"},
    {UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

#define MAX_DEVICES 4
#define MAX_PARAMS 32
#define MAX_PARAM_BYTES 512
#define DEFAULT_MEMORY (24ULL << 30)
static size_t total_memory = DEFAULT_MEMORY; /* the device's global memory (fake_set_total_memory) */

/* ------------------------------------------------------------------ state */

typedef struct Allocation { unsigned char *bytes; size_t size; struct Allocation *next; } Allocation;

struct Function;
typedef struct Launch {
    struct Function *function;
    unsigned dims[7];                    /* grid x y z, block x y z, shared bytes */
    void *stream;
    int param_bytes;
    unsigned char params[MAX_PARAM_BYTES];
    int programmatic;                    /* launched with programmatic stream serialization */
} Launch;

enum { NODE_KERNEL, NODE_COPY, NODE_FILL32 };
typedef struct Node { int kind; Launch launch; CUdeviceptr dst; const void *src; size_t n; unsigned value; } Node;
typedef struct Graph { int count, capacity; Node *nodes; } Graph;
typedef struct Stream { int flags; Graph *capture; } Stream;
typedef struct Event { int recorded; } Event;
typedef struct Function {
    char name[128]; const char *ptx; int param_count; int param_sizes[MAX_PARAMS]; struct Function *next;
    int static_shared;      /* bytes of the entry's static shared arrays */
    int max_dynamic_shared; /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: 48 KB less the static arrays until raised */
} Function;
typedef void (*LaunchHook)(const char *ptx, const char *entry, const unsigned *dims, const unsigned char *params, int bytes);
typedef struct Module { char *ptx; Function *functions; } Module;

static int init_result, initialized, device_count = 1, cc_major = 8, cc_minor = 6;
static char fail_call[64];
static int fail_code;
static int primary_refs[MAX_DEVICES];
static char contexts[MAX_DEVICES];      /* a context handle is the address of one of these */
static __thread void *current_context;
static Allocation *allocations;
static int live_allocations, live_objects;
static size_t live_bytes;                /* bytes of the live allocations: cuMemGetInfo's used memory */
static long programmatic_count;
static long launch_count, allocation_count, capture_count, graph_launch_count, device_copy_count;
static long wait_count;                  /* calls that wait for the device: synchronous copies, synchronizations */
static long graph_launches_at_wait;      /* graph_launch_count when the last of them was called */
static int live_pinned;                  /* page-locked host blocks from cuMemAllocHost_v2 not yet freed */
/* Copies into page-locked memory in flight: their bytes taken when queued (the fake's kernels run at once, so a kernel
   queued after the copy has already run when the host waits), written to the host only at the next wait, as the
   device's would be: a host that reads page-locked memory before it waits for the copy reads what was there before. */
typedef struct HostCopy { void *dst; unsigned char *bytes; size_t n; struct HostCopy *next; } HostCopy;
static HostCopy *host_copies;
/* Page-locked host blocks from cuMemAllocHost_v2 (a copy from the device into one runs as the device's would: its bytes arrive at the next wait). */
typedef struct Pinned { unsigned char *bytes; size_t size; struct Pinned *next; } Pinned;
static Pinned *pinned_blocks;
static long long host_to_device_bytes;
static LaunchHook launch_hook;
static Launch last_launch;
static int have_last_launch;
static char *last_ptx;

/* Every entry point starts here: a failure set up by fake_fail_next is returned once. */
#define ENTRY(name)                                                                   \
    do {                                                                              \
        if (fail_code != 0 && strcmp(fail_call, name) == 0) {                         \
            int code = fail_code;                                                     \
            fail_code = 0;                                                            \
            return code;                                                              \
        }                                                                             \
    } while (0)
#define NEED_INIT() do { if (!initialized) return NOT_INITIALIZED; } while (0)
#define NEED_CONTEXT() do { NEED_INIT(); if (current_context == NULL) return INVALID_CONTEXT; } while (0)

static Allocation *find_allocation(CUdeviceptr address, size_t n) {
    for (Allocation *a = allocations; a != NULL; a = a->next) {
        uintptr_t start = (uintptr_t) a->bytes;
        if (address >= start && address + n <= start + a->size) return a;
    }
    return NULL;
}

/* A call that waits for the device: the copies into page-locked memory land now. */
static void waited(void) {
    wait_count++;
    graph_launches_at_wait = graph_launch_count;
    while (host_copies != NULL) { /* (in the order they were queued) */
        HostCopy *next = host_copies->next;
        memcpy(host_copies->dst, host_copies->bytes, host_copies->n);
        free(host_copies->bytes);
        free(host_copies);
        host_copies = next;
    }
}

static int valid_device(int device) {
    return device >= 0 && device < device_count;
}

/* ------------------------------------------------------------------ test controls */

void fake_reset(void) {
    while (allocations != NULL) {
        Allocation *next = allocations->next;
        free(allocations->bytes);
        free(allocations);
        allocations = next;
    }
    init_result = 0;
    initialized = 0;
    device_count = 1;
    cc_major = 8;
    cc_minor = 6;
    fail_code = 0;
    memset(primary_refs, 0, sizeof primary_refs);
    current_context = NULL;
    live_allocations = live_objects = 0;
    live_bytes = 0;
    total_memory = DEFAULT_MEMORY;
    programmatic_count = 0;
    launch_count = allocation_count = capture_count = graph_launch_count = device_copy_count = 0;
    wait_count = graph_launches_at_wait = 0;
    while (host_copies != NULL) {
        HostCopy *next = host_copies->next;
        free(host_copies->bytes);
        free(host_copies);
        host_copies = next;
    }
    while (pinned_blocks != NULL) {
        Pinned *next = pinned_blocks->next;
        free(pinned_blocks->bytes);
        free(pinned_blocks);
        pinned_blocks = next;
    }
    live_pinned = 0;
    host_to_device_bytes = 0;
    launch_hook = NULL;
    have_last_launch = 0;
    free(last_ptx);
    last_ptx = NULL;
}

void fake_set_init_result(int result) { init_result = result; }

void fake_set_total_memory(size_t bytes) { total_memory = bytes; }

void fake_set_devices(int count, int major, int minor) {
    device_count = count < MAX_DEVICES ? count : MAX_DEVICES;
    cc_major = major;
    cc_minor = minor;
}

/* The next call of entry point `call` returns `code`. */
void fake_fail_next(const char *call, int code) {
    snprintf(fail_call, sizeof fail_call, "%s", call);
    fail_code = code;
}

long fake_launch_count(void) { return launch_count; }
long fake_programmatic_launch_count(void) { return programmatic_count; }
long fake_allocation_count(void) { return allocation_count; }
long fake_device_copy_count(void) { return device_copy_count; }
long long fake_host_to_device_bytes(void) { return host_to_device_bytes; }
long fake_capture_count(void) { return capture_count; }
long fake_graph_launch_count(void) { return graph_launch_count; }
long fake_wait_count(void) { return wait_count; }
long fake_graph_launches_at_wait(void) { return graph_launches_at_wait; }
int fake_live_pinned(void) { return live_pinned; }
void fake_set_launch_hook(LaunchHook hook) { launch_hook = hook; }

/* Bytes from a device address to the end of its allocation, or 0 outside every allocation. */
long fake_allocation_bytes(CUdeviceptr address) {
    Allocation *a = find_allocation(address, 1);
    return a == NULL ? 0 : (long) ((uintptr_t) a->bytes + a->size - address);
}
int fake_live_allocations(void) { return live_allocations; }
int fake_live_objects(void) { return live_objects; }
int fake_primary_refs(int device) { return valid_device(device) ? primary_refs[device] : -1; }
const char *fake_last_ptx(void) { return last_ptx; }

/* Copies the last launch's dims (7) and stream out; returns its parameter byte count, or -1 if none. */
int fake_last_launch(unsigned *dims, void **stream, unsigned char *params, int capacity) {
    if (!have_last_launch) return -1;
    memcpy(dims, last_launch.dims, sizeof last_launch.dims);
    *stream = last_launch.stream;
    int n = last_launch.param_bytes < capacity ? last_launch.param_bytes : capacity;
    memcpy(params, last_launch.params, (size_t) n);
    return last_launch.param_bytes;
}

/* ------------------------------------------------------------------ errors */

CUresult cuGetErrorName(CUresult error, const char **text) {
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++) {
        if (ERRORS[i].code == error) { *text = ERRORS[i].name; return SUCCESS; }
    }
    *text = NULL;
    return INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char **text) {
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++) {
        if (ERRORS[i].code == error) { *text = ERRORS[i].text; return SUCCESS; }
    }
    *text = NULL;
    return INVALID_VALUE;
}

/* ------------------------------------------------------------------ initialisation, devices, contexts */

CUresult cuInit(unsigned flags) {
    ENTRY("cuInit");
    if (flags != 0) return INVALID_VALUE;
    if (init_result != SUCCESS) return init_result;
    initialized = 1;
    return SUCCESS;
}

CUresult cuDriverGetVersion(int *version) {
    ENTRY("cuDriverGetVersion");
    *version = 12040;
    return SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
    ENTRY("cuDeviceGetCount");
    NEED_INIT();
    *count = device_count;
    return SUCCESS;
}

CUresult cuDeviceGet(int *device, int ordinal) {
    ENTRY("cuDeviceGet");
    NEED_INIT();
    if (!valid_device(ordinal)) return INVALID_DEVICE;
    *device = ordinal;
    return SUCCESS;
}

CUresult cuDeviceGetName(char *name, int length, int device) {
    ENTRY("cuDeviceGetName");
    NEED_INIT();
    if (!valid_device(device)) return INVALID_DEVICE;
    if (name == NULL || length <= 0) return INVALID_VALUE;
    snprintf(name, (size_t) length, "Fake GPU %d (moa tests)", device);
    return SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
    ENTRY("cuDeviceGetAttribute");
    NEED_INIT();
    if (!valid_device(device)) return INVALID_DEVICE;
    switch (attribute) {
        case 10: *value = 32; break;          /* warp size */
        case 16: *value = 84; break;          /* multiprocessors */
        case 36: *value = 9751000; break;     /* memory clock, kHz */
        case 37: *value = 384; break;         /* memory bus width, bits */
        case 75: *value = cc_major; break;
        case 76: *value = cc_minor; break;
        case 97: *value = 101376; break;      /* opt-in shared memory per block */
        default: return INVALID_VALUE;
    }
    return SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, int device) {
    ENTRY("cuDeviceTotalMem_v2");
    NEED_INIT();
    if (!valid_device(device)) return INVALID_DEVICE;
    *bytes = total_memory;
    return SUCCESS;
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total_bytes) {
    ENTRY("cuMemGetInfo_v2");
    NEED_CONTEXT();
    *free_bytes = total_memory - live_bytes;
    *total_bytes = total_memory;
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
    ENTRY("cuDevicePrimaryCtxRetain");
    NEED_INIT();
    if (!valid_device(device)) return INVALID_DEVICE;
    primary_refs[device]++;
    *context = &contexts[device];
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(int device) {
    ENTRY("cuDevicePrimaryCtxRelease_v2");
    NEED_INIT();
    if (!valid_device(device)) return INVALID_DEVICE;
    if (primary_refs[device] == 0) return INVALID_CONTEXT;
    if (--primary_refs[device] == 0 && current_context == &contexts[device]) current_context = NULL;
    return SUCCESS;
}

CUresult cuCtxSetCurrent(void *context) {
    ENTRY("cuCtxSetCurrent");
    NEED_INIT();
    if (context != NULL) {
        char *c = context;
        if (c < contexts || c >= contexts + MAX_DEVICES || primary_refs[c - contexts] == 0) return INVALID_CONTEXT;
    }
    current_context = context;
    return SUCCESS;
}

CUresult cuCtxSynchronize(void) {
    ENTRY("cuCtxSynchronize");
    waited();
    NEED_CONTEXT();
    return SUCCESS;
}

/* ------------------------------------------------------------------ modules */

/* Bytes of a PTX parameter type such as ".u32" or ".f64"; 0 if not a plain scalar. */
static int param_size(const char *type) {
    if (type[0] != '.') return 0;
    int bits = atoi(type + 2);
    return bits == 8 || bits == 16 || bits == 32 || bits == 64 ? bits / 8 : 0;
}

/* Finds ".entry name(" in the PTX and reads its parameter sizes; 0 if there is no such kernel. */
static int parse_entry(const char *ptx, const char *name, Function *function) {
    size_t length = strlen(name);
    for (const char *p = strstr(ptx, ".entry"); p != NULL; p = strstr(p + 1, ".entry")) {
        const char *q = p + 6;
        while (*q == ' ' || *q == '\t') q++;
        if (strncmp(q, name, length) != 0) continue;
        q += length;
        while (*q == ' ' || *q == '\t' || *q == '\n') q++;
        if (*q != '(') continue;
        const char *end = strchr(q, ')');
        if (end == NULL) return 0;
        function->param_count = 0;
        for (const char *r = strstr(q, ".param"); r != NULL && r < end; r = strstr(r + 1, ".param")) {
            const char *type = r + 6;
            while (*type == ' ' || *type == '\t') type++;
            if (function->param_count == MAX_PARAMS) return 0;
            function->param_sizes[function->param_count++] = param_size(type);
        }
        snprintf(function->name, sizeof function->name, "%s", name);
        return 1;
    }
    return 0;
}

/* Whether the text before `at` on its line is blank: `at` starts the line's first word. */
static int starts_line(const char *ptx, const char *at) {
    for (const char *p = at; p > ptx && p[-1] != '\n'; p--) if (p[-1] != ' ' && p[-1] != '\t') return 0;
    return 1;
}

/*
 * The bytes of one `.shared [.align N] [.vK] .TYPE name[COUNT]...;` declaration (a scalar without brackets: one element;
 * each further [COUNT] multiplies), its name into `name`.
 */
static int shared_declaration(const char *at, char *name, size_t name_size) {
    const char *end = strchr(at, ';');
    if (end == NULL) return 0;
    const char *open = memchr(at, '[', (size_t) (end - at));
    const char *name_end = open != NULL ? open : end;
    while (name_end > at && (name_end[-1] == ' ' || name_end[-1] == '\t')) name_end--;
    int element = 4, lanes = 1;
    const char *type = at + 7;
    for (const char *p = strchr(type, '.'); p != NULL && p < name_end; p = strchr(p + 1, '.')) {
        if (strncmp(p, ".align", 6) == 0) continue;
        if (p[1] == 'v') lanes = atoi(p + 2);
        else if (p[2] == '8') element = 1;
        else if (strncmp(p + 2, "16", 2) == 0) element = 2;
        else if (strncmp(p + 2, "64", 2) == 0) element = 8;
        type = p;
    }
    const char *n = name_end;
    while (n > type && n[-1] != ' ' && n[-1] != '\t') n--;
    snprintf(name, name_size, "%.*s", (int) (name_end - n), n);
    long bytes = (long) element * lanes;
    for (const char *b = open; b != NULL && b < end; b = memchr(b + 1, '[', (size_t) (end - b - 1))) bytes *= atol(b + 1);
    return (int) bytes;
}

/* Whether `text` (up to `end`) names `name` as a whole identifier, not as part of a longer one. */
static int names(const char *text, const char *end, const char *name) {
    size_t length = strlen(name);
    for (const char *p = strstr(text, name); p != NULL && p < end; p = strstr(p + 1, name)) {
        char after = p[length];
        if (!(after == '_' || after == '$' || (after >= '0' && after <= '9') || (after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z'))) {
            return 1;
        }
    }
    return 0;
}

/*
 * Bytes of static shared memory the entry `name` uses, each array rounded up to 16 as the hardware places them: the
 * arrays declared in its body, and the module-scope ones it names (nvcc declares a kernel's __shared__ arrays there).
 */
static int static_shared(const char *ptx, const char *name) {
    char head[160];
    snprintf(head, sizeof head, ".entry %s(", name);
    const char *body = strstr(ptx, head);
    if (body == NULL) return 0;
    const char *end = strstr(body + 1, ".entry");
    if (end == NULL) end = ptx + strlen(ptx);
    int total = 0;
    for (const char *p = strstr(ptx, ".shared"); p != NULL && p < end; p = strstr(p + 1, ".shared")) {
        if (!starts_line(ptx, p)) continue; /* an instruction's state space (ld.shared), not a declaration */
        char array[128];
        int bytes = shared_declaration(p, array, sizeof array);
        if (bytes == 0) continue;
        if (p < body && !names(body, end, array)) continue; /* module scope: counts if the entry names it */
        total += (bytes + 15) & ~15;
    }
    return total;
}

static void write_log(void *buffer, size_t size, const char *text, void **size_slot) {
    if (buffer == NULL || size == 0) return;
    snprintf(buffer, size, "%s", text);
    size_t written = strlen(buffer) + 1;
    if (size_slot != NULL) *size_slot = (void *) (uintptr_t) written;
}

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned count, int *options, void **values) {
    ENTRY("cuModuleLoadDataEx");
    NEED_CONTEXT();
    if (module == NULL || image == NULL) return INVALID_VALUE;
    void *info = NULL, *error = NULL;
    size_t info_size = 0, error_size = 0;
    void **info_size_slot = NULL, **error_size_slot = NULL;
    for (unsigned i = 0; i < count; i++) {
        switch (options[i]) {
            case 3: info = values[i]; break;
            case 4: info_size = (size_t) (uintptr_t) values[i]; info_size_slot = &values[i]; break;
            case 5: error = values[i]; break;
            case 6: error_size = (size_t) (uintptr_t) values[i]; error_size_slot = &values[i]; break;
            case 12: break;                   /* verbose log */
            default: return INVALID_VALUE;
        }
    }
    const char *ptx = image;
    free(last_ptx);
    last_ptx = strdup(ptx);
    const char *bad = strstr(ptx, "INVALID");
    if (bad != NULL) {
        int line = 1;
        for (const char *p = ptx; p < bad; p++) line += *p == '\n';
        char message[256];
        snprintf(message, sizeof message, "ptxas application ptx input, line %d; error   : fake ptxas rejects 'INVALID'",
                 line);
        write_log(error, error_size, message, error_size_slot);
        return INVALID_PTX;
    }
    int entries = 0;
    for (const char *p = strstr(ptx, ".entry"); p != NULL; p = strstr(p + 1, ".entry")) entries++;
    char message[128];
    snprintf(message, sizeof message, "fake ptxas info    : compiled %d entries", entries);
    write_log(info, info_size, message, info_size_slot);
    Module *m = calloc(1, sizeof *m);
    m->ptx = strdup(ptx);
    *module = m;
    live_objects++;
    return SUCCESS;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
    ENTRY("cuModuleGetFunction");
    NEED_CONTEXT();
    if (module == NULL) return INVALID_HANDLE;
    Module *m = module;
    Function *f = calloc(1, sizeof *f);
    if (!parse_entry(m->ptx, name, f)) {
        free(f);
        return NOT_FOUND;
    }
    f->ptx = m->ptx;
    f->static_shared = static_shared(m->ptx, name);
    f->max_dynamic_shared = f->static_shared > 48 * 1024 ? 0 : 48 * 1024 - f->static_shared;
    f->next = m->functions;
    m->functions = f;
    *function = f;
    return SUCCESS;
}

/*
 * Only the attribute the backend sets: the dynamic shared memory a launch may ask for (the real limit: 227 KB with the
 * static arrays).
 */
CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
    ENTRY("cuFuncSetAttribute");
    NEED_CONTEXT();
    if (function == NULL) return INVALID_HANDLE;
    if (attribute != 8 || value < 0 || value + ((Function *) function)->static_shared > 227 * 1024) return INVALID_VALUE;
    ((Function *) function)->max_dynamic_shared = value;
    return SUCCESS;
}

CUresult cuModuleUnload(void *module) {
    ENTRY("cuModuleUnload");
    NEED_CONTEXT();
    if (module == NULL) return INVALID_HANDLE;
    Module *m = module;
    while (m->functions != NULL) {
        Function *next = m->functions->next;
        free(m->functions);
        m->functions = next;
    }
    free(m->ptx);
    free(m);
    live_objects--;
    return SUCCESS;
}

/* ------------------------------------------------------------------ memory */

CUresult cuMemAlloc_v2(CUdeviceptr *pointer, size_t bytes) {
    ENTRY("cuMemAlloc_v2");
    NEED_CONTEXT();
    if (bytes == 0) return INVALID_VALUE;
    if (bytes > total_memory - live_bytes) return OUT_OF_MEMORY;
    allocation_count++;
    Allocation *a = malloc(sizeof *a);
    /* aligned as cuMemAlloc's are (256 bytes), so a kernel's misaligned vector access is the kernel's fault here too */
    a->bytes = aligned_alloc(256, (bytes + 255) & ~(size_t) 255);
    if (a->bytes == NULL) { free(a); return OUT_OF_MEMORY; }
    /* device memory comes holding anything: here NaN bits, so reading what no one wrote shows (up to 256 MiB: tests
       that reserve gigabytes never touch most of them) */
    if (bytes <= (256u << 20)) memset(a->bytes, 0xFF, bytes);
    a->size = bytes;
    a->next = allocations;
    allocations = a;
    live_allocations++;
    live_bytes += bytes;
    *pointer = (CUdeviceptr) (uintptr_t) a->bytes;
    return SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
    ENTRY("cuMemFree_v2");
    NEED_CONTEXT();
    for (Allocation **link = &allocations; *link != NULL; link = &(*link)->next) {
        Allocation *a = *link;
        if ((uintptr_t) a->bytes == pointer) {
            *link = a->next;
            live_bytes -= a->size;
            free(a->bytes);
            free(a);
            live_allocations--;
            return SUCCESS;
        }
    }
    return INVALID_VALUE;
}

CUresult cuMemAllocHost_v2(void **pointer, size_t bytes) {
    ENTRY("cuMemAllocHost_v2");
    NEED_CONTEXT();
    if (pointer == NULL || bytes == 0) return INVALID_VALUE;
    Pinned *p = malloc(sizeof *p);
    p->bytes = aligned_alloc(64, (bytes + 63) & ~(size_t) 63);
    if (p->bytes == NULL) { free(p); return OUT_OF_MEMORY; }
    memset(p->bytes, 0xFF, bytes);
    p->size = bytes;
    p->next = pinned_blocks;
    pinned_blocks = p;
    live_pinned++;
    *pointer = p->bytes;
    return SUCCESS;
}

CUresult cuMemFreeHost(void *pointer) {
    ENTRY("cuMemFreeHost");
    NEED_CONTEXT();
    for (Pinned **link = &pinned_blocks; *link != NULL; link = &(*link)->next) {
        Pinned *p = *link;
        if (p->bytes == pointer) {
            *link = p->next;
            free(p->bytes);
            free(p);
            live_pinned--;
            return SUCCESS;
        }
    }
    return INVALID_VALUE;
}

/* Whether [address, address + n) lies in one page-locked block. */
static int pinned(const void *address, size_t n) {
    uintptr_t a = (uintptr_t) address;
    for (Pinned *p = pinned_blocks; p != NULL; p = p->next) {
        if (a >= (uintptr_t) p->bytes && a - (uintptr_t) p->bytes <= p->size && n <= p->size - (a - (uintptr_t) p->bytes)) return 1;
    }
    return 0;
}

static CUresult copy(CUdeviceptr dst_device, void *dst_host, CUdeviceptr src_device, const void *src_host, size_t n) {
    if (dst_host == NULL && find_allocation(dst_device, n) == NULL) return INVALID_VALUE;
    if (src_host == NULL && find_allocation(src_device, n) == NULL) return INVALID_VALUE;
    void *dst = dst_host != NULL ? dst_host : (void *) (uintptr_t) dst_device;
    const void *src = src_host != NULL ? src_host : (const void *) (uintptr_t) src_device;
    memmove(dst, src, n);
    return SUCCESS;
}

static CUresult fill32(CUdeviceptr dst, unsigned value, size_t count) {
    if (dst % 4 != 0 || find_allocation(dst, count * 4) == NULL) return INVALID_VALUE;
    unsigned *words = (unsigned *) (uintptr_t) dst;
    for (size_t i = 0; i < count; i++) words[i] = value;
    return SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
    ENTRY("cuMemcpyHtoD_v2");
    waited();
    NEED_CONTEXT();
    host_to_device_bytes += (long long) n;
    return copy(dst, NULL, 0, src, n);
}

CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
    ENTRY("cuMemcpyDtoH_v2");
    waited();
    NEED_CONTEXT();
    return copy(0, dst, src, NULL, n);
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    ENTRY("cuMemcpyDtoD_v2");
    device_copy_count++;
    NEED_CONTEXT();
    return copy(dst, NULL, src, NULL, n);
}

static int synchronous_on_capture(void *stream) {
    return stream != NULL && ((Stream *) stream)->capture != NULL;
}

static void add_node(Graph *graph, Node node) {
    if (graph->count == graph->capacity) {
        graph->capacity = graph->capacity == 0 ? 8 : graph->capacity * 2;
        graph->nodes = realloc(graph->nodes, (size_t) graph->capacity * sizeof(Node));
    }
    graph->nodes[graph->count++] = node;
}

/* A device-side async copy is captured as a node; a copy touching the host runs at once (the fake's streams
   finish everything immediately), which is also fine for capture tests. */
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, void *stream) {
    ENTRY("cuMemcpyHtoDAsync_v2");
    NEED_CONTEXT();
    host_to_device_bytes += (long long) n; /* asked for: a captured copy runs at each replay, counted once here */
    if (synchronous_on_capture(stream)) {
        if (find_allocation(dst, n) == NULL) return INVALID_VALUE;
        add_node(((Stream *) stream)->capture, (Node) {.kind = NODE_COPY, .dst = dst, .src = src, .n = n});
        return SUCCESS;
    }
    return copy(dst, NULL, 0, src, n);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, void *stream) {
    ENTRY("cuMemcpyDtoHAsync_v2");
    NEED_CONTEXT();
    if (synchronous_on_capture(stream)) return STREAM_CAPTURE_UNSUPPORTED;
    if (!pinned(dst, n)) return copy(0, dst, src, NULL, n); /* into pageable memory the call waits for the copy */
    if (find_allocation(src, n) == NULL) return INVALID_VALUE;
    HostCopy *c = malloc(sizeof *c);
    c->dst = dst;
    c->n = n;
    c->bytes = malloc(n > 0 ? n : 1);
    memcpy(c->bytes, (const void *) (uintptr_t) src, n);
    c->next = NULL;
    HostCopy **last = &host_copies; /* (queued at the end: delivered in order) */
    while (*last != NULL) last = &(*last)->next;
    *last = c;
    return SUCCESS;
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void *stream) {
    ENTRY("cuMemcpyDtoDAsync_v2");
    device_copy_count++;
    NEED_CONTEXT();
    if (synchronous_on_capture(stream)) {
        if (find_allocation(dst, n) == NULL || find_allocation(src, n) == NULL) return INVALID_VALUE;
        add_node(((Stream *) stream)->capture,
                 (Node) {.kind = NODE_COPY, .dst = dst, .src = (const void *) (uintptr_t) src, .n = n});
        return SUCCESS;
    }
    return copy(dst, NULL, src, NULL, n);
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t n) {
    ENTRY("cuMemsetD8_v2");
    NEED_CONTEXT();
    if (find_allocation(dst, n) == NULL) return INVALID_VALUE;
    memset((void *) (uintptr_t) dst, value, n);
    return SUCCESS;
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t n, void *stream) {
    ENTRY("cuMemsetD8Async");
    NEED_CONTEXT();
    (void) stream; /* (never captured: run now, as the stream's work so far already is in the fake) */
    if (find_allocation(dst, n) == NULL) return INVALID_VALUE;
    memset((void *) (uintptr_t) dst, value, n);
    return SUCCESS;
}

CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned value, size_t count) {
    ENTRY("cuMemsetD32_v2");
    NEED_CONTEXT();
    return fill32(dst, value, count);
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, void *stream) {
    ENTRY("cuMemsetD32Async");
    NEED_CONTEXT();
    if (synchronous_on_capture(stream)) {
        if (dst % 4 != 0 || find_allocation(dst, count * 4) == NULL) return INVALID_VALUE;
        add_node(((Stream *) stream)->capture, (Node) {.kind = NODE_FILL32, .dst = dst, .n = count, .value = value});
        return SUCCESS;
    }
    return fill32(dst, value, count);
}

/* ------------------------------------------------------------------ launches */

static void run_launch(const Launch *launch) {
    last_launch = *launch;
    have_last_launch = 1;
    launch_count++;
    if (launch->programmatic) programmatic_count++;
    if (launch_hook != NULL) {
        launch_hook(launch->function->ptx, launch->function->name, launch->dims, launch->params, launch->param_bytes);
    }
}

static CUresult launch_kernel(void *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                              unsigned bz, unsigned shared, void *stream, void **params, void **extra, int programmatic) {
    if (function == NULL) return INVALID_HANDLE;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || (unsigned long) bx * by * bz > 1024)
        return INVALID_VALUE;
    if (extra != NULL) return INVALID_VALUE;
    Function *f = function;
    if (f->param_count > 0 && params == NULL) return INVALID_VALUE;
    if ((int) shared > f->max_dynamic_shared) return INVALID_VALUE; /* past 48 KB only after cuFuncSetAttribute */
    Launch launch = {.function = f, .dims = {gx, gy, gz, bx, by, bz, shared}, .stream = stream, .programmatic = programmatic};
    for (int i = 0; i < f->param_count; i++) {
        int size = f->param_sizes[i];
        if (size == 0 || launch.param_bytes + size > MAX_PARAM_BYTES) return INVALID_VALUE;
        memcpy(launch.params + launch.param_bytes, params[i], (size_t) size);
        launch.param_bytes += size;
    }
    if (synchronous_on_capture(stream)) {
        add_node(((Stream *) stream)->capture, (Node) {.kind = NODE_KERNEL, .launch = launch});
        return SUCCESS;
    }
    run_launch(&launch);
    return SUCCESS;
}

CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, void *stream, void **params, void **extra) {
    ENTRY("cuLaunchKernel");
    NEED_CONTEXT();
    return launch_kernel(function, gx, gy, gz, bx, by, bz, shared, stream, params, extra, 0);
}

/* cuda.h's CUlaunchConfig and CUlaunchAttribute (a 4-byte id padded to 8, then a 64-byte value union). */
typedef struct { unsigned id; char pad[4]; union { char bytes[64]; int allowed; } value; } LaunchAttribute;
typedef struct {
    unsigned grid_x, grid_y, grid_z, block_x, block_y, block_z, shared;
    void *stream;
    LaunchAttribute *attributes;
    unsigned attribute_count;
} LaunchConfig;

_Static_assert(sizeof(LaunchAttribute) == 72 && offsetof(LaunchAttribute, value) == 8, "cuda.h's CUlaunchAttribute");
_Static_assert(sizeof(LaunchConfig) == 56 && offsetof(LaunchConfig, stream) == 32 && offsetof(LaunchConfig, attributes) == 40
               && offsetof(LaunchConfig, attribute_count) == 48, "cuda.h's CUlaunchConfig");

CUresult cuLaunchKernelEx(const LaunchConfig *config, void *function, void **params, void **extra) {
    ENTRY("cuLaunchKernelEx");
    NEED_CONTEXT();
    if (config == NULL || (config->attribute_count > 0 && config->attributes == NULL)) return INVALID_VALUE;
    int programmatic = 0;
    for (unsigned i = 0; i < config->attribute_count; i++) {
        if (config->attributes[i].id != 6) return INVALID_VALUE; /* only CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION */
        programmatic = config->attributes[i].value.allowed != 0;
    }
    if (programmatic && cc_major < 9) return NOT_SUPPORTED;
    return launch_kernel(function, config->grid_x, config->grid_y, config->grid_z, config->block_x, config->block_y,
                         config->block_z, config->shared, config->stream, params, extra, programmatic);
}

/* ------------------------------------------------------------------ streams and events */

CUresult cuStreamCreate(void **stream, unsigned flags) {
    ENTRY("cuStreamCreate");
    NEED_CONTEXT();
    if (flags > 1) return INVALID_VALUE;
    Stream *s = calloc(1, sizeof *s);
    s->flags = (int) flags;
    *stream = s;
    live_objects++;
    return SUCCESS;
}

CUresult cuStreamSynchronize(void *stream) {
    ENTRY("cuStreamSynchronize");
    waited();
    NEED_CONTEXT();
    if (synchronous_on_capture(stream)) return STREAM_CAPTURE_UNSUPPORTED;
    return SUCCESS;
}

CUresult cuStreamDestroy_v2(void *stream) {
    ENTRY("cuStreamDestroy_v2");
    NEED_CONTEXT();
    if (stream == NULL) return INVALID_HANDLE;
    free(stream);
    live_objects--;
    return SUCCESS;
}

CUresult cuEventCreate(void **event, unsigned flags) {
    ENTRY("cuEventCreate");
    NEED_CONTEXT();
    if (flags != 0) return INVALID_VALUE;
    *event = calloc(1, sizeof(Event));
    live_objects++;
    return SUCCESS;
}

CUresult cuEventRecord(void *event, void *stream) {
    ENTRY("cuEventRecord");
    NEED_CONTEXT();
    (void) stream;
    if (event == NULL) return INVALID_HANDLE;
    ((Event *) event)->recorded = 1;
    return SUCCESS;
}

CUresult cuEventSynchronize(void *event) {
    ENTRY("cuEventSynchronize");
    waited();
    NEED_CONTEXT();
    return event == NULL ? INVALID_HANDLE : SUCCESS;
}

CUresult cuEventElapsedTime(float *millis, void *start, void *end) {
    ENTRY("cuEventElapsedTime");
    NEED_CONTEXT();
    if (start == NULL || end == NULL) return INVALID_HANDLE;
    if (!((Event *) start)->recorded || !((Event *) end)->recorded) return INVALID_HANDLE;
    *millis = 1.25f;
    return SUCCESS;
}

CUresult cuEventDestroy_v2(void *event) {
    ENTRY("cuEventDestroy_v2");
    NEED_CONTEXT();
    if (event == NULL) return INVALID_HANDLE;
    free(event);
    live_objects--;
    return SUCCESS;
}

/* ------------------------------------------------------------------ graphs */

CUresult cuStreamBeginCapture_v2(void *stream, int mode) {
    ENTRY("cuStreamBeginCapture_v2");
    NEED_CONTEXT();
    if (stream == NULL || mode < 0 || mode > 2) return INVALID_VALUE;
    Stream *s = stream;
    if (s->capture != NULL) return ILLEGAL_STATE;
    capture_count++;
    s->capture = calloc(1, sizeof(Graph));
    return SUCCESS;
}

CUresult cuStreamEndCapture(void *stream, void **graph) {
    ENTRY("cuStreamEndCapture");
    NEED_CONTEXT();
    if (stream == NULL) return INVALID_VALUE;
    Stream *s = stream;
    if (s->capture == NULL) return ILLEGAL_STATE;
    *graph = s->capture;
    s->capture = NULL;
    live_objects++;
    return SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(void **exec, void *graph, unsigned long long flags) {
    ENTRY("cuGraphInstantiateWithFlags");
    NEED_CONTEXT();
    if (graph == NULL) return INVALID_VALUE;
    if (flags != 0) return INVALID_VALUE;
    Graph *g = graph, *e = calloc(1, sizeof *e);
    e->count = e->capacity = g->count;
    e->nodes = malloc((size_t) (g->count > 0 ? g->count : 1) * sizeof(Node));
    memcpy(e->nodes, g->nodes, (size_t) g->count * sizeof(Node));
    *exec = e;
    live_objects++;
    return SUCCESS;
}

CUresult cuGraphLaunch(void *exec, void *stream) {
    ENTRY("cuGraphLaunch");
    NEED_CONTEXT();
    if (exec == NULL) return INVALID_HANDLE;
    if (synchronous_on_capture(stream)) return STREAM_CAPTURE_UNSUPPORTED;
    Graph *e = exec;
    graph_launch_count++;
    for (int i = 0; i < e->count; i++) {
        Node *node = &e->nodes[i];
        CUresult result = SUCCESS;
        switch (node->kind) {
            case NODE_KERNEL: run_launch(&node->launch); break;
            case NODE_COPY: result = copy(node->dst, NULL, 0, node->src, node->n); break;
            case NODE_FILL32: result = fill32(node->dst, node->value, node->n); break;
        }
        if (result != SUCCESS) return ILLEGAL_ADDRESS;
    }
    return SUCCESS;
}

static void free_graph(Graph *graph) {
    free(graph->nodes);
    free(graph);
    live_objects--;
}

CUresult cuGraphExecDestroy(void *exec) {
    ENTRY("cuGraphExecDestroy");
    NEED_CONTEXT();
    if (exec == NULL) return INVALID_HANDLE;
    free_graph(exec);
    return SUCCESS;
}

CUresult cuGraphDestroy(void *graph) {
    ENTRY("cuGraphDestroy");
    NEED_CONTEXT();
    if (graph == NULL) return INVALID_VALUE;
    free_graph(graph);
    return SUCCESS;
}
