import CExt2Reader
import CSandboxShim
#if hasFeature(Embedded)
import MetricsDecodingEmbedded
#else
import MetricsDecoding
#endif

/// Reads the runner's files out of the runner's ext4 image FILE, in userspace, through the
/// image descriptor the supervisor opened. Runs inside the sandbox: a crafted filesystem meets
/// libext2fs in this unprivileged, seccomp-confined process, never the host kernel's ext4 driver.
///
/// Mirrors `RunnerFileReader`'s rules: a name is looked up in the image's root directory only
/// (no path walking, no symlink following); anything but a regular file with exactly one link
/// is refused without reading it; the size limit is checked on i_size and again on the bytes
/// actually read. On top of that, the filesystem itself must be consistent and use only
/// features libext2fs reads faithfully; otherwise every file is `.unreadableFile`.
///
/// Opened once (`init(descriptor:)` throws); freed when the reader goes away. The descriptor
/// stays open and belongs to the caller; it is only ever read with pread.
public final class ImageFileReader {
    private let image: OpaquePointer

    /// Opens the filesystem in the image on `descriptor`. Throws `.unreadableFile` (with no
    /// file attributed: the filesystem as a whole is refused) when it cannot be read safely.
    public init(descriptor: Int32) throws(Rejection) {
        var handle: OpaquePointer? = nil
        var why = 0
        let code = rm_ext2_open(descriptor, &handle, &why)
        guard code == Int32(RM_EXT2_OK), let handle else {
            throw ImageFileReader.rejection(code: code, why: why, file: nil)
        }
        image = handle
    }

    deinit { rm_ext2_close(image) }

    /// Reads `file` into `buffer` (which holds at least runnerFileSizeLimit + 1 bytes) and
    /// returns the number of bytes, or nil if the image's root directory has no such entry.
    public func read(_ file: RunnerFile, into buffer: UnsafeMutableRawBufferPointer) throws(Rejection) -> Int? {
        let capacity = min(buffer.count, runnerFileSizeLimit + 1)
        guard capacity > 0, let base = buffer.baseAddress else {
            throw Rejection(.unreadableFile, file: file, "image: no buffer")
        }
        var length = 0
        var why = 0
        let code = file.rawValue.withCString { name in
            rm_ext2_read_file(image, name, runnerFileSizeLimit,
                              base.assumingMemoryBound(to: UInt8.self), capacity, &length, &why)
        }
        switch code {
        case Int32(RM_EXT2_OK):
            guard length <= runnerFileSizeLimit else {
                throw Rejection(.fileTooLarge, file: file, "more than \(runnerFileSizeLimit) bytes read")
            }
            return length
        case Int32(RM_EXT2_ABSENT):
            return nil
        default:
            throw ImageFileReader.rejection(code: code, why: why, file: file)
        }
    }

    static func rejection(code: Int32, why: Int, file: RunnerFile?) -> Rejection {
        switch code {
        case Int32(RM_EXT2_NOT_REGULAR):
            let type = mode_t(truncatingIfNeeded: why)
            return Rejection(.notRegularFile, file: file, "image: not a regular file (\(RunnerFileReader.describe(type)))")
        case Int32(RM_EXT2_LINK_COUNT):
            return Rejection(.notRegularFile, file: file, "image: regular file with \(why) hard links")
        case Int32(RM_EXT2_TOO_LARGE):
            return Rejection(.fileTooLarge, file: file, "image: size \(why) exceeds \(runnerFileSizeLimit) bytes")
        case Int32(RM_EXT2_CORRUPT):
            return Rejection(.unreadableFile, file: file, "image: corrupt filesystem (ext2fs error \(why))")
        case Int32(RM_EXT2_UNSUPPORTED):
            return Rejection(.unreadableFile, file: file, "image: unsupported filesystem feature (ext2fs error or feature bits \(why))")
        case Int32(RM_EXT2_NEEDS_RECOVERY):
            return Rejection(.unreadableFile, file: file, "image: journal needs recovery, which is never replayed")
        case Int32(RM_EXT2_IO):
            return Rejection(.unreadableFile, file: file, "image: read error or truncated image (ext2fs error \(why))")
        default:
            return Rejection(.unreadableFile, file: file, "image: reader error \(code) (\(why))")
        }
    }
}

extension Worker {
    /// Reads the four files out of the image on descriptor `image` and decodes them. The
    /// image counterpart of `readAndDecode(directory:)`: same buffers, same order, same decoder.
    public static func readAndDecode(image: Int32) -> WorkerVerdict {
        let reader: ImageFileReader
        do throws(Rejection) { reader = try ImageFileReader(descriptor: image) } catch {
            return .rejected(error)
        }
        return decodeFiles { _, file, buffer throws(Rejection) in try reader.read(file, into: buffer) }
    }
}
