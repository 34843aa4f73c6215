namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// A uniquely named network namespace "oe-t-lnk-…" made for one test class, with IPv6 off and
/// loopback up, and no routes beyond its one connected /24. Dispose deletes it (and with it every
/// interface moved into it) plus any root-namespace interface registered with <see cref="OwnRootInterface"/>.
/// </summary>
internal sealed class TestNamespace : IDisposable
{
    private readonly List<string> _rootInterfaces = new();
    private bool _disposed;

    internal TestNamespace(string tag, string prefix = "oe-t-lnk-")
    {
        if (!prefix.StartsWith("oe-t-", StringComparison.Ordinal)) throw new ArgumentException("test namespaces are named oe-t-*", nameof(prefix));
        Name = $"{prefix}{tag}{Environment.ProcessId}";
        // A namespace of this exact name can only be a leftover of this process id: remove it.
        Cmd.TryRun("ip", "netns", "del", Name);
        Cmd.Run("ip", "netns", "add", Name);
        Exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
        Exec("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1");
        Cmd.Run("ip", "-n", Name, "link", "set", "lo", "up");
    }

    /// <summary>The namespace name.</summary>
    internal string Name { get; }

    /// <summary>Runs a command inside the namespace.</summary>
    internal string Exec(string file, params string[] args) => Cmd.Run("ip", new[] { "netns", "exec", Name, file }.Concat(args).ToArray());

    /// <summary>Remembers a root-namespace interface to delete on Dispose.</summary>
    internal void OwnRootInterface(string name) => _rootInterfaces.Add(name);

    /// <summary>Moves <paramref name="ifname"/> into the namespace and gives it <paramref name="cidr"/>, IPv6 off, up.</summary>
    internal void ConfigureInside(string ifname, string cidr)
    {
        Exec("sysctl", "-qw", $"net.ipv6.conf.{ifname}.disable_ipv6=1");
        Cmd.Run("ip", "-n", Name, "addr", "add", cidr, "dev", ifname);
        Cmd.Run("ip", "-n", Name, "link", "set", ifname, "up");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var i in _rootInterfaces) Cmd.TryRun("ip", "link", "del", i);
        Cmd.TryRun("ip", "netns", "del", Name);
    }
}
