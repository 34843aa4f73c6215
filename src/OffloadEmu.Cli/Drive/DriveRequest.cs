using System.Globalization;
using System.Text.Json;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Drive;

/// <summary>
/// One parsed request line (docs/drive.md): <c>{"id":ID,"op":OP,...}</c>. The accessors read a field and throw
/// <see cref="DriveRequestException"/> naming it when it is missing or of the wrong kind or range; the parser runs the
/// op's checks once (<see cref="DriveRequestParser"/>), so the session reads fields that are known to be good.
/// </summary>
internal sealed class DriveRequest
{
    public DriveRequest(string op, string idJson, JsonElement root)
    {
        Op = op;
        IdJson = idJson;
        Root = root;
    }

    /// <summary>The operation name.</summary>
    public string Op { get; }

    /// <summary>The id as written (a JSON integer or string), echoed by every reply and completion.</summary>
    public string IdJson { get; }

    /// <summary>The whole request object.</summary>
    public JsonElement Root { get; }

    public bool Has(string name) => Has(Root, name);

    public static bool Has(JsonElement obj, string name) => obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public long Integer(string name, long min, long max, long? fallback = null) => Integer(Root, name, min, max, fallback, "");

    public static long Integer(JsonElement obj, string name, long min, long max, long? fallback, string prefix)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return fallback ?? throw new DriveRequestException($"'{prefix}{name}' is required");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n))
            throw new DriveRequestException($"'{prefix}{name}' must be an integer");
        if (n < min || n > max)
            throw new DriveRequestException($"'{prefix}{name}' {n.ToString(CultureInfo.InvariantCulture)} is out of range {min}..{max}");
        return n;
    }

    public uint U32(string name, uint? fallback = null) => (uint)Integer(name, 0, uint.MaxValue, fallback);

    public static uint U32(JsonElement obj, string name, uint? fallback, string prefix) => (uint)Integer(obj, name, 0, uint.MaxValue, fallback, prefix);

    public ushort Port(string name) => (ushort)Integer(name, 1, ushort.MaxValue);

    public string Text(string name, string? fallback = null) => Text(Root, name, fallback, "");

    public static string Text(JsonElement obj, string name, string? fallback, string prefix)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return fallback ?? throw new DriveRequestException($"'{prefix}{name}' is required");
        if (v.ValueKind != JsonValueKind.String) throw new DriveRequestException($"'{prefix}{name}' must be a string");
        return v.GetString()!;
    }

    public bool Flag(string name, bool fallback) => Flag(Root, name, fallback, "");

    public static bool Flag(JsonElement obj, string name, bool fallback, string prefix)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new DriveRequestException($"'{prefix}{name}' must be true or false"),
        };
    }

    public JsonElement Object(string name, bool required)
    {
        if (!Root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw new DriveRequestException($"'{name}' is required (an object)") : default;
        if (v.ValueKind != JsonValueKind.Object) throw new DriveRequestException($"'{name}' must be an object");
        return v;
    }

    public Ipv4Address Ipv4(string name)
    {
        string text = Text(name);
        return Ipv4Address.TryParse(text, out var a) ? a : throw new DriveRequestException($"'{name}' '{text}' is not an IPv4 address");
    }

    public MacAddress Mac(string name)
    {
        string text = Text(name);
        return MacAddress.TryParse(text, out var m) ? m : throw new DriveRequestException($"'{name}' '{text}' is not a MAC address (aa:bb:cc:dd:ee:ff)");
    }

    /// <summary>The connection handle (<c>conn</c>) a reply of connect, accept or offload gave.</summary>
    public int Conn => (int)Integer("conn", 1, int.MaxValue);

    /// <summary>Send data: exactly one of <c>text</c> (UTF-8), <c>hex</c> or <c>base64</c>; at least one byte.</summary>
    public byte[] Data()
    {
        int given = (Has("text") ? 1 : 0) + (Has("hex") ? 1 : 0) + (Has("base64") ? 1 : 0);
        if (given != 1) throw new DriveRequestException("give the data as exactly one of 'text', 'hex' or 'base64'");
        byte[] data;
        if (Has("text")) data = System.Text.Encoding.UTF8.GetBytes(Text("text"));
        else if (Has("hex"))
        {
            try
            {
                data = Convert.FromHexString(Text("hex"));
            }
            catch (FormatException)
            {
                throw new DriveRequestException("'hex' is not an even number of hex digits");
            }
        }
        else
        {
            try
            {
                data = Convert.FromBase64String(Text("base64"));
            }
            catch (FormatException)
            {
                throw new DriveRequestException("'base64' is not valid base64");
            }
        }
        if (data.Length == 0) throw new DriveRequestException("the data is empty: send at least one byte");
        if (data.Length > MaxSendBytes) throw new DriveRequestException($"the data is {data.Length} bytes; at most {MaxSendBytes} per send");
        return data;
    }

    /// <summary>Largest send per request (the control protocol's message limit leaves room for the headers).</summary>
    public const int MaxSendBytes = 1024 * 1024;
}
