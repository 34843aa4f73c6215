using System.Runtime.InteropServices;

namespace OffloadEmu.Link.Native;

/// <summary>
/// A thin libpcap/Npcap binding. The library is loaded at first use with <see cref="NativeLibrary"/>
/// (not a static [LibraryImport]) because its file name differs per platform and distribution:
/// Linux <c>libpcap.so.0.8</c> (Debian), then <c>libpcap.so.1</c>, <c>libpcap.so</c>; Windows
/// <c>wpcap.dll</c> from Npcap's <c>System32\Npcap</c> directory. Calls go through unmanaged
/// function pointers, which cost the same as a direct P/Invoke.
/// </summary>
internal static unsafe class Pcap
{
    internal const int ErrorBufferSize = 256;       // PCAP_ERRBUF_SIZE
    internal const int DirectionIn = 1;              // PCAP_D_IN
    internal const int WarningPromiscNotSupported = 2;
    internal const uint NetmaskUnknown = 0xFFFFFFFF; // PCAP_NETMASK_UNKNOWN

    /// <summary>The message for a missing library: one line that says what to install.</summary>
    internal const string NotFoundMessage = "libpcap not found: install libpcap0.8 (Debian) or Npcap (Windows)";

    private static readonly Lazy<Api?> LazyApi = new(() => Load(Candidates()), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The loaded entry points; throws <see cref="LinkDeviceException"/> if libpcap is missing.</summary>
    internal static Api Functions(string device) => Require(LazyApi.Value, device);

    /// <summary>Returns <paramref name="api"/>, or throws the one-line "libpcap not found" error naming <paramref name="device"/>.</summary>
    internal static Api Require(Api? api, string device) => api ?? throw new LinkDeviceException(device, NotFoundMessage);

    /// <summary>True when libpcap (or Npcap) can be loaded.</summary>
    internal static bool IsAvailable => LazyApi.Value is not null;

    /// <summary>The function table.</summary>
    internal sealed class Api
    {
        internal delegate* unmanaged<byte*, byte*, nint> Create;
        internal delegate* unmanaged<nint, int, int> SetSnaplen;
        internal delegate* unmanaged<nint, int, int> SetImmediateMode;
        internal delegate* unmanaged<nint, int, int> SetPromisc;
        internal delegate* unmanaged<nint, int, int> SetTimeout;
        internal delegate* unmanaged<nint, int, int> SetBufferSize;
        internal delegate* unmanaged<nint, int> Activate;
        internal delegate* unmanaged<nint, int, byte*, int> SetNonblock;
        internal delegate* unmanaged<nint, int> GetSelectableFd;
        internal delegate* unmanaged<nint, void**, byte**, int> NextEx;
        internal delegate* unmanaged<nint, byte*, int, int> SendPacket;
        internal delegate* unmanaged<nint, BpfProgram*, byte*, int, uint, int> Compile;
        internal delegate* unmanaged<nint, BpfProgram*, int> SetFilter;
        internal delegate* unmanaged<BpfProgram*, void> FreeCode;
        internal delegate* unmanaged<nint, int, int> SetDirection;   // absent on some Npcap builds: may be null
        internal delegate* unmanaged<nint, byte*> GetErr;
        internal delegate* unmanaged<nint, void> Close;
        internal delegate* unmanaged<byte*> LibVersion;
        internal delegate* unmanaged<PcapInterface**, byte*, int> FindAllDevs;
        internal delegate* unmanaged<PcapInterface*, void> FreeAllDevs;
    }

    /// <summary>Loads the first of <paramref name="candidates"/> that exists; null when none does.</summary>
    internal static Api? Load(IEnumerable<string> candidates)
    {
        nint handle = 0;
        foreach (var candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, out handle)) break;
        }
        if (handle == 0) return null;
        try
        {
            return new Api
            {
                Create = (delegate* unmanaged<byte*, byte*, nint>)NativeLibrary.GetExport(handle, "pcap_create"),
                SetSnaplen = (delegate* unmanaged<nint, int, int>)NativeLibrary.GetExport(handle, "pcap_set_snaplen"),
                SetImmediateMode = (delegate* unmanaged<nint, int, int>)NativeLibrary.GetExport(handle, "pcap_set_immediate_mode"),
                SetPromisc = (delegate* unmanaged<nint, int, int>)NativeLibrary.GetExport(handle, "pcap_set_promisc"),
                SetTimeout = (delegate* unmanaged<nint, int, int>)NativeLibrary.GetExport(handle, "pcap_set_timeout"),
                SetBufferSize = (delegate* unmanaged<nint, int, int>)NativeLibrary.GetExport(handle, "pcap_set_buffer_size"),
                Activate = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(handle, "pcap_activate"),
                SetNonblock = (delegate* unmanaged<nint, int, byte*, int>)NativeLibrary.GetExport(handle, "pcap_setnonblock"),
                GetSelectableFd = NativeLibrary.TryGetExport(handle, "pcap_get_selectable_fd", out var sel)
                    ? (delegate* unmanaged<nint, int>)sel : null,   // Windows has no selectable fd
                NextEx = (delegate* unmanaged<nint, void**, byte**, int>)NativeLibrary.GetExport(handle, "pcap_next_ex"),
                SendPacket = (delegate* unmanaged<nint, byte*, int, int>)NativeLibrary.GetExport(handle, "pcap_sendpacket"),
                Compile = (delegate* unmanaged<nint, BpfProgram*, byte*, int, uint, int>)NativeLibrary.GetExport(handle, "pcap_compile"),
                SetFilter = (delegate* unmanaged<nint, BpfProgram*, int>)NativeLibrary.GetExport(handle, "pcap_setfilter"),
                FreeCode = (delegate* unmanaged<BpfProgram*, void>)NativeLibrary.GetExport(handle, "pcap_freecode"),
                SetDirection = NativeLibrary.TryGetExport(handle, "pcap_setdirection", out var dir)
                    ? (delegate* unmanaged<nint, int, int>)dir : null,
                GetErr = (delegate* unmanaged<nint, byte*>)NativeLibrary.GetExport(handle, "pcap_geterr"),
                Close = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(handle, "pcap_close"),
                LibVersion = (delegate* unmanaged<byte*>)NativeLibrary.GetExport(handle, "pcap_lib_version"),
                FindAllDevs = (delegate* unmanaged<PcapInterface**, byte*, int>)NativeLibrary.GetExport(handle, "pcap_findalldevs"),
                FreeAllDevs = (delegate* unmanaged<PcapInterface*, void>)NativeLibrary.GetExport(handle, "pcap_freealldevs"),
            };
        }
        catch (EntryPointNotFoundException)
        {
            // Too old a libpcap (before 1.5 had no immediate mode): treat as missing.
            return null;
        }
    }

    /// <summary>The library names tried, in order, on this platform.</summary>
    internal static IEnumerable<string> Candidates()
    {
        if (OperatingSystem.IsWindows())
        {
            // Npcap installs into System32\Npcap (not on the default search path); a WinPcap-compatible
            // install puts wpcap.dll in System32 itself.
            yield return Path.Combine(Environment.SystemDirectory, "Npcap", "wpcap.dll");
            yield return "wpcap.dll";
        }
        else
        {
            yield return "libpcap.so.0.8";
            yield return "libpcap.so.1";
            yield return "libpcap.so";
            yield return "libpcap.dylib";
        }
    }

    /// <summary>Text of a NUL-terminated C string (null pointer gives "").</summary>
    internal static string Text(byte* s) => s == null ? "" : Marshal.PtrToStringUTF8((nint)s) ?? "";

    /// <summary>libpcap's version banner, e.g. "libpcap version 1.10.3 (with TPACKET_V3)".</summary>
    internal static string Version(string device) => Text(Functions(device).LibVersion());
}
