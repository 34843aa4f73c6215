using Microsoft.Extensions.Options;

namespace OffloadEmu.Daemon.Options;

/// <summary>Validates <see cref="LinkOptions"/> at start (the devices are opened afterwards, by the link service).</summary>
internal sealed class LinkOptionsValidator : IValidateOptions<LinkOptions>
{
    public ValidateOptionsResult Validate(string? name, LinkOptions o)
    {
        var f = new List<string>();
        if (!Enum.IsDefined(o.Kind))
            f.Add($"Link:Kind: '{o.Kind}' is not a link kind; use tap, pcap, packet or memory");

        string kind = o.Kind.ToString().ToLowerInvariant();
        if (o.Kind != LinkKind.Memory || o.Interface.Length > 0) InterfaceName(f, o);

        if (o.Create && o.Kind != LinkKind.Tap)
            f.Add($"Link:Create: only a TAP can be created, not a {kind} interface; set Link:Create=false or Link:Kind=tap");
        if (o.VnetHeader && o.Kind != LinkKind.Tap)
            f.Add($"Link:VnetHeader: only a TAP has a virtio-net header, not a {kind} link; set Link:VnetHeader=false or Link:Kind=tap");
        if (o.SegmentationOffload && o.Kind != LinkKind.Tap)
            f.Add($"Link:SegmentationOffload: segmentation offload goes through a TAP's virtio-net header; a {kind} link has none; set Link:SegmentationOffload=false or Link:Kind=tap");
        if (!string.IsNullOrWhiteSpace(o.Filter) && o.Kind != LinkKind.Pcap)
            f.Add($"Link:Filter: a BPF filter needs Link:Kind=pcap (the {kind} link has none); clear Link:Filter or set Link:Kind=pcap");
        SettingChecks.MacAddress(f, "Link:MacAddress", o.MacAddress);
        if (o.Mtu is int mtu && mtu != 0) SettingChecks.Range(f, "Link:Mtu", mtu, 68, 9000, ", or leave it empty to read the interface's MTU");
        SettingChecks.Range(f, "Link:ReattachDelayMilliseconds", o.ReattachDelayMilliseconds, 10, 60_000);
        SettingChecks.Range(f, "Link:ReattachMaxDelayMilliseconds", o.ReattachMaxDelayMilliseconds, Math.Max(10, o.ReattachDelayMilliseconds), 600_000,
            ", at least Link:ReattachDelayMilliseconds");
        return f.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(f);
    }

    private static void InterfaceName(List<string> f, LinkOptions o)
    {
        string n = o.Interface;
        if (string.IsNullOrWhiteSpace(n))
        {
            f.Add(o.Kind == LinkKind.Tap
                ? "Link:Interface: empty; name the TAP to attach (e.g. oe0), or set Link:Create=true with a name or pattern like oe%d"
                : "Link:Interface: empty; name an existing interface (see 'ip link')");
            return;
        }
        if (n.Length > SettingChecks.MaxInterfaceNameLength)
        {
            f.Add($"Link:Interface: '{n}' is {n.Length} characters; Linux interface names have at most {SettingChecks.MaxInterfaceNameLength}");
            return;
        }
        if (n is "." or ".." || n.Any(c => c == '/' || c == ':' || char.IsWhiteSpace(c)))
        {
            f.Add($"Link:Interface: '{n}' is not a valid interface name; use letters, digits, '-' or '_' (no '/', ':' or spaces)");
            return;
        }
        if (n.Contains('%'))
        {
            bool pattern = n.IndexOf("%d", StringComparison.Ordinal) is int i && i >= 0 && n.IndexOf('%', i + 1) < 0 && n.IndexOf('%') == i;
            if (!pattern)
                f.Add($"Link:Interface: '{n}' has a '%' that is not one \"%d\"; use a plain name or a pattern like oe%d");
            else if (o.Kind != LinkKind.Tap || !o.Create)
                f.Add($"Link:Interface: the pattern '{n}' only works when creating a TAP; set Link:Create=true or name an existing interface");
        }
    }
}
