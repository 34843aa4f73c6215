namespace OffloadEmu.Daemon.Options;

/// <summary>The <c>Control</c> section: where host-stack processes reach the daemon.</summary>
public sealed class ControlOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Control";

    /// <summary>Unix domain socket path ('@' first = Linux abstract namespace). Default /run/offloademu/control.sock.</summary>
    public string Endpoint { get; set; } = "/run/offloademu/control.sock";

    /// <summary>Group given the socket file (mode 0660, chown at start); empty = the daemon's primary group. Must exist.</summary>
    public string Group { get; set; } = "";

    /// <summary>Milliseconds a bound client may take to send the rest of a message it has started; past it the session
    /// is closed (TooSlow) and cleaned up like a client that died. 100..3600000.</summary>
    public int ReadTimeoutMilliseconds { get; set; } = 5000;

    /// <summary>Serve the control protocol (false: the target runs with no host bound, e.g. for an in-process host).</summary>
    public bool Enabled { get; set; } = true;
}
