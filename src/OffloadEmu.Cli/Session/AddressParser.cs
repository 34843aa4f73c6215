using System.Globalization;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Session;

/// <summary>The address forms of the command line: <c>HOST:PORT</c>, <c>ADDR/PREFIX</c>, <c>ADDR</c>, <c>PORT</c>.
/// Errors name the option and say what was expected.</summary>
internal static class AddressParser
{
    public static bool TryParseHostPort(string text, out Ipv4Address host, out ushort port, out string error)
    {
        host = default;
        port = 0;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            error = $"'{text}': expected HOST:PORT with an IPv4 address (e.g. 198.18.0.1:7)";
            return false;
        }
        if (!Ipv4Address.TryParse(text.AsSpan(0, colon), out host))
        {
            error = $"'{text}': '{text[..colon]}' is not an IPv4 address (names are not resolved; e.g. 198.18.0.1:7)";
            return false;
        }
        if (!TryParsePort(text[(colon + 1)..], out port))
        {
            error = $"'{text}': port '{text[(colon + 1)..]}' is not a number from 1 to 65535";
            return false;
        }
        if (host.IsUnspecified || host.IsMulticast)
        {
            error = $"'{text}': {host} is not a unicast host address";
            return false;
        }
        error = "";
        return true;
    }

    public static bool TryParsePort(string text, out ushort port)
        => ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port != 0;

    public static bool TryParsePrefix(string text, out Ipv4Address address, out int prefixLength, out string error)
    {
        address = default;
        prefixLength = 0;
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            error = $"--local '{text}': expected ADDR/PREFIX (e.g. 198.18.0.2/24)";
            return false;
        }
        if (!Ipv4Address.TryParse(text.AsSpan(0, slash), out address) || address.IsUnspecified || address.IsMulticast)
        {
            error = $"--local '{text}': '{text[..slash]}' is not a unicast IPv4 address";
            return false;
        }
        if (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefixLength) || prefixLength is < 1 or > 32)
        {
            error = $"--local '{text}': prefix length '{text[(slash + 1)..]}' must be a number from 1 to 32";
            return false;
        }
        error = "";
        return true;
    }
}
