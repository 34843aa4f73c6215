using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OffloadEmu.Tcp;

/// <summary>Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), with
/// M a 4 µs clock and F a keyed hash (HMAC-SHA-256, truncated) of the 4-tuple. The secret is injected so tests are
/// reproducible and so that hosts can rotate it.</summary>
/// <remarks>RFC 9293 §3.4.1 (MUST-8, SHLD-1, MUST-9), RFC 6528 §3.</remarks>
public sealed class IsnGenerator
{
    private readonly byte[] _secret;

    /// <summary>Creates a generator with the given secret (at least 16 bytes).</summary>
    public IsnGenerator(ReadOnlySpan<byte> secret)
    {
        if (secret.Length < 16) throw new ArgumentException("The ISN secret must be at least 16 bytes.", nameof(secret));
        _secret = secret.ToArray();
    }

    /// <summary>A generator with a fresh random secret.</summary>
    public static IsnGenerator CreateRandom() => new(RandomNumberGenerator.GetBytes(32));

    /// <summary>The ISN for a connection opened at <paramref name="now"/>.</summary>
    public uint Generate(in TcpEndpointAddresses addresses, ushort localPort, ushort remotePort, Instant now)
        => unchecked((uint)(now.Microseconds / 4) + Hash(addresses, localPort, remotePort, 0));

    /// <summary>A per-connection offset for the timestamp clock (RFC 7323 §7.1 recommends a random offset per connection
    /// so TSval does not leak the host's uptime).</summary>
    public uint TimestampOffset(in TcpEndpointAddresses addresses, ushort localPort, ushort remotePort)
        => Hash(addresses, localPort, remotePort, 1);

    private uint Hash(in TcpEndpointAddresses addresses, ushort localPort, ushort remotePort, byte purpose)
    {
        Span<byte> tuple = stackalloc byte[37];
        int n = addresses.WriteTo(tuple);
        BinaryPrimitives.WriteUInt16BigEndian(tuple[n..], localPort);
        BinaryPrimitives.WriteUInt16BigEndian(tuple[(n + 2)..], remotePort);
        tuple[n + 4] = purpose;
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_secret, tuple[..(n + 5)], mac);
        return BinaryPrimitives.ReadUInt32BigEndian(mac);
    }
}
