// See include/ext2_reader.h. Everything here runs inside the sandboxed worker on bytes the
// runner's job fully controls; every check errs on the side of refusing.
#define _GNU_SOURCE
#include "ext2_reader.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

// The fstat(2) system call itself, not glibc's fstat (which is newfstatat(fd, "", ...,
// AT_EMPTY_PATH)): a seccomp filter can pin fstat to descriptor 3, whereas newfstatat with an
// absolute path ignores its descriptor and would let a compromised worker stat any host file.
static int rm_fstat_descriptor(int fd, struct stat *st) {
    return (int)syscall(SYS_fstat, fd, st);
}

struct rm_ext2_image {
    ext2_filsys fs;
};

// ---------------------------------------------------------------------------------------------
// A read-only io_manager over an already-open descriptor. The "name" ext2fs_open2 passes to
// open() is "fd:<decimal>"; it is parsed, never opened. Blocks are read with pread only.
// ---------------------------------------------------------------------------------------------

struct fd_private {
    int fd;
    /// Size of the image from fstat at open. A read past it is refused before any pread, so a
    /// superblock claiming a huge filesystem costs no I/O and no large buffer fill.
    uint64_t size;
};

static struct struct_io_manager rm_fd_manager;

static errcode_t fdio_open(const char *name, int flags, io_channel *channel) {
    if (name == NULL || channel == NULL) return EXT2_ET_INVALID_ARGUMENT;
    // Only plain read-only use: no RW, no O_EXCL, no O_DIRECT, no threads.
    if (flags & IO_FLAG_RW) return EXT2_ET_RO_FILSYS;
    if (flags != 0) return EXT2_ET_INVALID_ARGUMENT;
    if (strncmp(name, "fd:", 3) != 0) return EXT2_ET_INVALID_ARGUMENT;
    long fd = 0;
    const char *p = name + 3;
    if (*p == '\0') return EXT2_ET_INVALID_ARGUMENT;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return EXT2_ET_INVALID_ARGUMENT;
        fd = fd * 10 + (*p - '0');
        if (fd > INT_MAX) return EXT2_ET_INVALID_ARGUMENT;
    }
    struct stat st;
    if (rm_fstat_descriptor((int)fd, &st) != 0) return errno;
    if (!S_ISREG(st.st_mode) || st.st_size < 0) return EXT2_ET_INVALID_ARGUMENT;

    io_channel io = calloc(1, sizeof(*io));
    struct fd_private *priv = calloc(1, sizeof(*priv));
    char *copy = strdup(name);
    if (io == NULL || priv == NULL || copy == NULL) {
        free(io);
        free(priv);
        free(copy);
        return EXT2_ET_NO_MEMORY;
    }
    priv->fd = (int)fd;
    priv->size = (uint64_t)st.st_size;
    io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
    io->manager = &rm_fd_manager;
    io->name = copy;
    io->block_size = 1024;
    io->refcount = 1;
    io->flags = 0;
    io->private_data = priv;
    *channel = io;
    return 0;
}

static errcode_t fdio_close(io_channel channel) {
    if (channel == NULL || channel->magic != EXT2_ET_MAGIC_IO_CHANNEL) return EXT2_ET_MAGIC_IO_CHANNEL;
    if (--channel->refcount > 0) return 0;
    // The descriptor belongs to the caller and is not closed here.
    free(channel->private_data);
    free(channel->name);
    free(channel);
    return 0;
}

static errcode_t fdio_set_blksize(io_channel channel, int blksize) {
    if (blksize <= 0 || blksize > EXT2_MAX_BLOCK_SIZE * 64) return EXT2_ET_INVALID_ARGUMENT;
    channel->block_size = blksize;
    return 0;
}

static errcode_t fdio_read_blk64(io_channel channel, unsigned long long block, int count, void *data) {
    if (channel == NULL || channel->magic != EXT2_ET_MAGIC_IO_CHANNEL || data == NULL) return EXT2_ET_INVALID_ARGUMENT;
    struct fd_private *priv = channel->private_data;
    // count < 0 means -count bytes (libext2fs convention), otherwise count blocks.
    uint64_t size;
    if (count < 0) {
        size = (uint64_t)(-(int64_t)count);
    } else if (__builtin_mul_overflow((uint64_t)count, (uint64_t)channel->block_size, &size)) {
        return EXT2_ET_LLSEEK_FAILED;
    }
    uint64_t offset, end;
    if (__builtin_mul_overflow((uint64_t)block, (uint64_t)channel->block_size, &offset) ||
        __builtin_add_overflow(offset, size, &end) || end > (uint64_t)INT64_MAX) {
        return EXT2_ET_LLSEEK_FAILED;
    }
    if (end > priv->size) return EXT2_ET_SHORT_READ;
    unsigned char *out = data;
    uint64_t done = 0;
    while (done < size) {
        size_t chunk = (size - done) > (1u << 30) ? (1u << 30) : (size_t)(size - done);
        ssize_t n = pread(priv->fd, out + done, chunk, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno ? errno : EXT2_ET_SHORT_READ;
        }
        if (n == 0) return EXT2_ET_SHORT_READ;  // the file shrank since fstat
        done += (uint64_t)n;
    }
    return 0;
}

static errcode_t fdio_read_blk(io_channel channel, unsigned long block, int count, void *data) {
    return fdio_read_blk64(channel, block, count, data);
}

static errcode_t fdio_write_blk64(io_channel channel, unsigned long long block, int count, const void *data) {
    (void)channel; (void)block; (void)count; (void)data;
    return EXT2_ET_RO_FILSYS;
}

static errcode_t fdio_write_blk(io_channel channel, unsigned long block, int count, const void *data) {
    (void)channel; (void)block; (void)count; (void)data;
    return EXT2_ET_RO_FILSYS;
}

static errcode_t fdio_write_byte(io_channel channel, unsigned long offset, int count, const void *data) {
    (void)channel; (void)offset; (void)count; (void)data;
    return EXT2_ET_RO_FILSYS;
}

static errcode_t fdio_flush(io_channel channel) {
    (void)channel;
    return 0;  // nothing is ever written, so nothing is pending
}

static errcode_t fdio_set_option(io_channel channel, const char *option, const char *arg) {
    (void)channel; (void)option; (void)arg;
    return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t fdio_discard(io_channel channel, unsigned long long block, unsigned long long count) {
    (void)channel; (void)block; (void)count;
    return EXT2_ET_RO_FILSYS;
}

static errcode_t fdio_zeroout(io_channel channel, unsigned long long block, unsigned long long count) {
    (void)channel; (void)block; (void)count;
    return EXT2_ET_RO_FILSYS;
}

static struct struct_io_manager rm_fd_manager = {
    .magic = EXT2_ET_MAGIC_IO_MANAGER,
    .name = "runner-metrics read-only descriptor I/O manager",
    .open = fdio_open,
    .close = fdio_close,
    .set_blksize = fdio_set_blksize,
    .read_blk = fdio_read_blk,
    .write_blk = fdio_write_blk,
    .flush = fdio_flush,
    .write_byte = fdio_write_byte,
    .set_option = fdio_set_option,
    .get_stats = NULL,
    .read_blk64 = fdio_read_blk64,
    .write_blk64 = fdio_write_blk64,
    .discard = fdio_discard,
    .cache_readahead = NULL,  // io_channel_cache_readahead then answers EXT2_ET_OP_NOT_SUPPORTED
    .zeroout = fdio_zeroout,
};

// ---------------------------------------------------------------------------------------------
// libext2fs reports some inconsistencies not by an error code but through com_err (e.g.
// ext2fs_warn_bitmap: "Unknown code ext2 45 #2 for check_desc map" on a crafted group
// descriptor). com_err's default handler writes to stderr AND calls isatty(2), an
// ioctl(2, TCGETS) the worker's seccomp policy denies: the worker would die of SIGSYS. This
// hook prints nothing and makes no system call; it only counts, and a call that saw a
// complaint is refused as corruption. Process-global, set before each use; no threads.
// ---------------------------------------------------------------------------------------------

static unsigned rm_complaints;

static void rm_quiet_com_err(const char *whoami, errcode_t code, const char *fmt, va_list args) {
    (void)whoami; (void)code; (void)fmt; (void)args;
    rm_complaints++;
}

static void rm_begin(void) {
    set_com_err_hook(rm_quiet_com_err);
    rm_complaints = 0;
}

// ---------------------------------------------------------------------------------------------
// Classification of libext2fs errors.
// ---------------------------------------------------------------------------------------------

static int classify(errcode_t err, long *why) {
    *why = (long)err;
    if (err == EXT2_ET_SHORT_READ || (err > 0 && err < 4096)) return RM_EXT2_IO;  // errno values
    if (err == EXT2_ET_UNSUPP_FEATURE || err == EXT2_ET_RO_UNSUPP_FEATURE || err == EXT2_ET_REV_TOO_HIGH ||
        err == EXT2_ET_UNKNOWN_CSUM || err == EXT2_ET_UNIMPLEMENTED) {
        return RM_EXT2_UNSUPPORTED;
    }
    return RM_EXT2_CORRUPT;
}

// Incompat features an honest image may carry and that libext2fs reads faithfully. Everything
// else is refused: RECOVER (needs journal replay, which we never do), JOURNAL_DEV (not a
// filesystem), COMPRESSION/DIRDATA (unsupported), ENCRYPT (names and data are ciphertext),
// CASEFOLD (the kernel would match names case-insensitively; we would not), unknown bits.
#define RM_INCOMPAT_READ (EXT2_FEATURE_INCOMPAT_FILETYPE | EXT2_FEATURE_INCOMPAT_META_BG | \
                          EXT3_FEATURE_INCOMPAT_EXTENTS | EXT4_FEATURE_INCOMPAT_64BIT | \
                          EXT4_FEATURE_INCOMPAT_MMP | EXT4_FEATURE_INCOMPAT_FLEX_BG | \
                          EXT4_FEATURE_INCOMPAT_EA_INODE | EXT4_FEATURE_INCOMPAT_CSUM_SEED | \
                          EXT4_FEATURE_INCOMPAT_LARGEDIR | EXT4_FEATURE_INCOMPAT_INLINE_DATA)

int rm_ext2_open(int fd, rm_ext2_image **image, long *why) {
    long ignored;
    if (why == NULL) why = &ignored;
    *why = 0;
    if (fd < 0 || image == NULL) return RM_EXT2_INVALID;
    *image = NULL;

    char name[32];
    int n = snprintf(name, sizeof(name), "fd:%d", fd);
    if (n <= 0 || (size_t)n >= sizeof(name)) return RM_EXT2_INVALID;

    struct stat st;
    if (rm_fstat_descriptor(fd, &st) != 0) { *why = errno; return RM_EXT2_IO; }
    if (!S_ISREG(st.st_mode)) { *why = (long)(st.st_mode & S_IFMT); return RM_EXT2_INVALID; }

    rm_begin();
    // Read-only (no EXT2_FLAG_RW), 64-bit block numbers, never touch MMP, never FORCE past
    // unsupported features, checksums enforced (no EXT2_FLAG_IGNORE_CSUM_ERRORS), no threads.
    ext2_filsys fs = NULL;
    errcode_t err = ext2fs_open2(name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0, &rm_fd_manager, &fs);
    if (err) return classify(err, why);

    struct ext2_super_block *sb = fs->super;
    int code = RM_EXT2_OK;
    if (sb->s_feature_incompat & EXT3_FEATURE_INCOMPAT_RECOVER) {
        code = RM_EXT2_NEEDS_RECOVERY;
    } else if (sb->s_feature_incompat & ~(uint32_t)RM_INCOMPAT_READ) {
        *why = (long)(sb->s_feature_incompat & ~(uint32_t)RM_INCOMPAT_READ);
        code = RM_EXT2_UNSUPPORTED;
    } else if (sb->s_feature_ro_compat & ~(uint32_t)EXT2_LIB_FEATURE_RO_COMPAT_SUPP) {
        *why = (long)(sb->s_feature_ro_compat & ~(uint32_t)EXT2_LIB_FEATURE_RO_COMPAT_SUPP);
        code = RM_EXT2_UNSUPPORTED;
    } else if (fs->blocksize == 0 || ext2fs_blocks_count(sb) > (uint64_t)st.st_size / fs->blocksize) {
        // The kernel refuses a block count beyond the device ("bad geometry"); so do we.
        code = RM_EXT2_CORRUPT;
    } else if ((err = ext2fs_check_desc(fs)) != 0) {
        // Group descriptors: bitmaps and inode tables inside their groups, no overlaps,
        // descriptor checksums. ext2fs_open2 itself does not check these.
        code = classify(err, why);
        if (code == RM_EXT2_OK) code = RM_EXT2_CORRUPT;
    }
    if (code == RM_EXT2_OK && rm_complaints != 0) {
        *why = (long)rm_complaints;
        code = RM_EXT2_CORRUPT;
    }
    if (code != RM_EXT2_OK) {
        ext2fs_free(fs);
        return code;
    }
    struct rm_ext2_image *img = calloc(1, sizeof(*img));
    if (img == NULL) {
        ext2fs_free(fs);
        *why = ENOMEM;
        return RM_EXT2_IO;
    }
    img->fs = fs;
    *image = img;
    return RM_EXT2_OK;
}

// ---------------------------------------------------------------------------------------------
// Root-directory lookup. ext2fs_lookup would stop at the first match; this walks the whole
// directory so that a second entry of the same name (impossible on an honest filesystem, and
// a way to make us and the kernel disagree) is refused as corruption.
// ---------------------------------------------------------------------------------------------

struct lookup_state {
    const char *name;
    int name_len;
    int matches;
    ext2_ino_t ino;
    int file_type;
};

static int lookup_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *dirent, int offset, int blocksize,
                        char *buf, void *priv) {
    (void)dir; (void)entry; (void)offset; (void)blocksize; (void)buf;
    struct lookup_state *st = priv;
    if (dirent->inode == 0) return 0;
    if (ext2fs_dirent_name_len(dirent) != st->name_len) return 0;
    if (memcmp(dirent->name, st->name, (size_t)st->name_len) != 0) return 0;
    st->matches++;
    st->ino = dirent->inode;
    st->file_type = ext2fs_dirent_file_type(dirent);
    return 0;
}

int rm_ext2_read_file(rm_ext2_image *image, const char *name, size_t limit, unsigned char *buf, size_t cap,
                      size_t *len, long *why) {
    long ignored;
    if (why == NULL) why = &ignored;
    *why = 0;
    if (image == NULL || image->fs == NULL || name == NULL || buf == NULL || len == NULL) return RM_EXT2_INVALID;
    *len = 0;
    size_t name_len = strnlen(name, EXT2_NAME_LEN + 1);
    if (name_len == 0 || name_len > EXT2_NAME_LEN || memchr(name, '/', name_len) != NULL) return RM_EXT2_INVALID;
    ext2_filsys fs = image->fs;
    rm_begin();

    struct lookup_state state = { .name = name, .name_len = (int)name_len };
    errcode_t err = ext2fs_dir_iterate2(fs, EXT2_ROOT_INO, 0, NULL, lookup_entry, &state);
    if (err) return classify(err, why);
    if (state.matches == 0) return RM_EXT2_ABSENT;
    if (state.matches > 1) { *why = state.matches; return RM_EXT2_CORRUPT; }

    // The kernel's lookup refuses reserved inodes (journal, resize, bad blocks...) other than
    // the root; so do we, before reading one as if it were a runner file.
    ext2_ino_t ino = state.ino;
    if (ino != EXT2_ROOT_INO && (ino < EXT2_FIRST_INODE(fs->super) || ino > fs->super->s_inodes_count)) {
        *why = (long)ino;
        return RM_EXT2_CORRUPT;
    }
    struct ext2_inode inode;
    err = ext2fs_read_inode(fs, ino, &inode);
    if (err) return classify(err, why);

    unsigned type = inode.i_mode & LINUX_S_IFMT;
    if (type != LINUX_S_IFREG) { *why = (long)type; return RM_EXT2_NOT_REGULAR; }
    // With the filetype feature the entry repeats the type; a disagreement is corruption.
    if (ext2fs_has_feature_filetype(fs->super) && state.file_type != EXT2_FT_REG_FILE) {
        *why = state.file_type;
        return RM_EXT2_CORRUPT;
    }
    if (inode.i_links_count != 1) { *why = inode.i_links_count; return RM_EXT2_LINK_COUNT; }
    if ((inode.i_flags & EXT4_INLINE_DATA_FL) && !ext2fs_has_feature_inline_data(fs->super)) return RM_EXT2_CORRUPT;
    if ((inode.i_flags & EXT4_EXTENTS_FL) && !ext2fs_has_feature_extents(fs->super)) return RM_EXT2_CORRUPT;
    if ((inode.i_flags & EXT4_INLINE_DATA_FL) && (inode.i_flags & EXT4_EXTENTS_FL)) return RM_EXT2_CORRUPT;
    if (inode.i_flags & (EXT4_ENCRYPT_FL | EXT4_EA_INODE_FL)) { *why = (long)inode.i_flags; return RM_EXT2_CORRUPT; }

    uint64_t size = EXT2_I_SIZE(&inode);
    if (size > limit) { *why = size > LONG_MAX ? LONG_MAX : (long)size; return RM_EXT2_TOO_LARGE; }

    ext2_file_t file = NULL;
    err = ext2fs_file_open(fs, ino, 0, &file);  // flags 0: read-only
    if (err) return classify(err, why);
    size_t total = 0;
    int code = RM_EXT2_OK;
    while (total < cap) {
        size_t want = cap - total;
        if (want > UINT_MAX) want = UINT_MAX;
        unsigned int got = 0;
        err = ext2fs_file_read(file, buf + total, (unsigned int)want, &got);
        if (err) { code = classify(err, why); break; }
        if (got == 0) break;
        total += got;
    }
    ext2fs_file_close(file);  // not dirty (never written), so this frees without writing
    if (code != RM_EXT2_OK) return code;
    if (rm_complaints != 0) { *why = (long)rm_complaints; return RM_EXT2_CORRUPT; }
    // For inline data, libext2fs (1.47) returns the whole inline area (at least the 60 bytes
    // of i_block), not i_size bytes; the kernel returns i_size bytes. The file is its first
    // i_size bytes. (For block-mapped and extent files ext2fs_file_read already stops there.)
    if ((inode.i_flags & EXT4_INLINE_DATA_FL) && total > size) total = (size_t)size;
    if (total > limit) { *why = (long)total; return RM_EXT2_TOO_LARGE; }
    *len = total;
    return RM_EXT2_OK;
}

void rm_ext2_close(rm_ext2_image *image) {
    if (image == NULL) return;
    // ext2fs_free, not ext2fs_close: close would flush a dirty filesystem; free only frees
    // (and closes the channel, which leaves the caller's descriptor open).
    if (image->fs) ext2fs_free(image->fs);
    free(image);
}
