using System.Text;
using Microsoft.Extensions.Options;

namespace OffloadEmu.Daemon.Options;

/// <summary>Validates <see cref="ControlOptions"/> (the socket itself belongs to the control server).</summary>
internal sealed class ControlOptionsValidator : IValidateOptions<ControlOptions>
{
    /// <summary>sun_path holds 108 bytes including the terminating NUL.</summary>
    internal const int MaxSocketPathBytes = 107;

    public ValidateOptionsResult Validate(string? name, ControlOptions o)
    {
        var f = new List<string>();
        string e = o.Endpoint ?? "";
        if (string.IsNullOrWhiteSpace(e))
            f.Add("Control:Endpoint: empty; give a Unix socket path such as /run/offloademu/control.sock");
        else if (Encoding.UTF8.GetByteCount(e) > MaxSocketPathBytes)
            f.Add($"Control:Endpoint: '{e}' is longer than {MaxSocketPathBytes} bytes, the Unix socket path limit; use a shorter path");
        else if (e[0] != '@' && !Path.IsPathRooted(e))
            f.Add($"Control:Endpoint: '{e}' is relative; give an absolute path (e.g. /run/offloademu/control.sock) or '@name' for an abstract socket");
        if (!string.IsNullOrEmpty(o.Group) && o.Group.Any(c => char.IsWhiteSpace(c) || c == ':'))
            f.Add($"Control:Group: '{o.Group}' is not a group name; give an existing group (see /etc/group) or leave it empty");
        else if (o.Enabled && !string.IsNullOrEmpty(o.Group) && !OperatingSystem.IsWindows() && !Control.Native.UnixGroup.TryGetId(o.Group, out _))
            f.Add($"Control:Group: no group '{o.Group}' on this system; create it (groupadd {o.Group}), name an existing group (see /etc/group) or leave it empty");
        SettingChecks.Range(f, "Control:ReadTimeoutMilliseconds", o.ReadTimeoutMilliseconds, 100, 3_600_000);
        return f.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(f);
    }
}
