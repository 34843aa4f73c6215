using System.Runtime.InteropServices;

namespace OffloadEmu.Control.Native;

/// <summary>
/// Group lookup and chown for the control socket file (Control:Group). The P/Invoke lives here rather than in
/// OffloadEmu.Link/Native because Control does not depend on Link; it is two libc calls used once at start.
/// </summary>
public static partial class UnixGroup
{
    private const string Lib = "libc";

    // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; char **gr_mem; } (glibc, LP64 and ILP32 alike:
    // gr_gid follows two pointers).
    [LibraryImport(Lib, EntryPoint = "getgrnam", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetGrNam(string name);

    [LibraryImport(Lib, EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Chown(string path, uint owner, uint group);

    /// <summary>The id of group <paramref name="name"/> (files and NSS), or false when there is none.</summary>
    public static bool TryGetId(string name, out uint gid)
    {
        gid = 0;
        if (OperatingSystem.IsWindows() || string.IsNullOrEmpty(name)) return false;
        nint entry = GetGrNam(name);
        if (entry == 0) return false;
        gid = (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
        return true;
    }

    /// <summary>Gives <paramref name="path"/> to group <paramref name="gid"/> (owner unchanged).</summary>
    /// <exception cref="IOException">chown failed (the message has the errno).</exception>
    public static void SetGroup(string path, uint gid)
    {
        if (Chown(path, uint.MaxValue, gid) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot give {path} to group {gid} ({Marshal.GetPInvokeErrorMessage(errno)}, errno {errno}): "
                + "the daemon must run as root or be a member of that group (Control:Group)");
        }
    }
}
