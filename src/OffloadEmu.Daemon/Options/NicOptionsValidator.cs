using Microsoft.Extensions.Options;

namespace OffloadEmu.Daemon.Options;

/// <summary>Validates <see cref="NicOptions"/> (chimney spec §6.9 capabilities).</summary>
internal sealed class NicOptionsValidator : IValidateOptions<NicOptions>
{
    /// <summary>Upper bound of Nic:Capabilities:Capacity: far above what a user-mode target can serve, low enough to catch typos.</summary>
    internal const int MaxCapacity = 1 << 20;

    /// <summary>Upper bound of Nic:Queues.</summary>
    internal const int MaxQueues = 64;

    public ValidateOptionsResult Validate(string? name, NicOptions o)
    {
        var f = new List<string>();
        SettingChecks.MacAddress(f, "Nic:MacAddress", o.MacAddress);
        var c = o.Capabilities;
        if (c is null)
        {
            f.Add("Nic:Capabilities: missing; give at least Ipv4 or Ipv6, Capacity and Encapsulation");
        }
        else
        {
            if (!c.Ipv4 && !c.Ipv6)
                f.Add("Nic:Capabilities:Ipv4: both Ipv4 and Ipv6 are false, so nothing could be offloaded; set Nic:Capabilities:Ipv4=true or Nic:Capabilities:Ipv6=true");
            SettingChecks.Range(f, "Nic:Capabilities:Capacity", c.Capacity, 1, MaxCapacity, " (the most TCP connections offloaded at once)");
            const OffloadEncapsulation all = OffloadEncapsulation.Ieee8023 | OffloadEncapsulation.LlcSnapRouted;
            if (c.Encapsulation == OffloadEncapsulation.None || (c.Encapsulation & ~all) != 0)
                f.Add($"Nic:Capabilities:Encapsulation: '{c.Encapsulation}' is not allowed; use Ieee8023, LlcSnapRouted or \"Ieee8023, LlcSnapRouted\" (a target must support one)");
        }
        SettingChecks.Range(f, "Nic:Queues", o.Queues, 1, MaxQueues);
        if (o.VlanIds is { } vlans)
        {
            for (int i = 0; i < vlans.Count; i++)
                SettingChecks.Range(f, $"Nic:VlanIds:{i}", vlans[i], 1, 4094, " (an IEEE 802.1Q VLAN id; 0 means untagged and is always allowed)");
            foreach (var twice in vlans.GroupBy(v => v).Where(g => g.Count() > 1))
                f.Add($"Nic:VlanIds: {twice.Key} is listed twice; list each VLAN id once");
        }
        SettingChecks.Range(f, "Nic:BusyPollMicroseconds", o.BusyPollMicroseconds, 0, Target.OffloadTargetOptions.MaxBusyPollMicroseconds, " (0 = off)");
        if (!Enum.TryParse<Target.TerminateSendDisposition>(o.TerminateSends?.Trim(), ignoreCase: true, out var disposition)
            || !Enum.IsDefined(disposition) || int.TryParse(o.TerminateSends, out _))
            f.Add($"Nic:TerminateSends: '{o.TerminateSends}' is not allowed; use Return (unacknowledged sends come back in the terminated TCP block) or Complete (they complete UPLOAD_IN_PROGRESS)");
        return f.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(f);
    }
}
