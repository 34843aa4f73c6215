using FsCheck;
using FsCheck.Fluent;

namespace OffloadEmu.Wire.Tests;

/// <summary>Parsing never throws: every view and repr is fed random and mutated bytes.</summary>
public class FuzzTests
{
    private static readonly Ipv6Address Ip1 = Ipv6Address.Parse("2001:2::1");
    private static readonly Ipv6Address Ip2 = Ipv6Address.Parse("2001:2::2");

    private static Gen<byte[]> RandomBytes(int maxLength)
        => Gen.Choose(0, maxLength).SelectMany(n => Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), n));

    // Every entry point on its own, so a layer is exercised even when an outer one would refuse the bytes.
    private static bool ParseEveryWay(byte[] bytes)
    {
        ParseStack.TryParseFrame((byte[])bytes.Clone(), out _);
        ParseStack.TryParseArp((byte[])bytes.Clone(), out _);
        ParseStack.TryParseIpv4((byte[])bytes.Clone(), out _);
        ParseStack.TryParseIpv6((byte[])bytes.Clone(), out _);
        ParseStack.TryParseIcmpv4((byte[])bytes.Clone(), out _);
        ParseStack.TryParseIcmpv6((byte[])bytes.Clone(), Ip1, Ip2, out _);
        return true;
    }

    [Fact]
    public void Random_bytes_never_throw()
        => Check.One(Config.QuickThrowOnFailure.WithMaxTest(5000), Prop.ForAll(RandomBytes(200).ToArbitrary(), ParseEveryWay));

    [Fact]
    public void Random_bytes_with_plausible_first_bytes_never_throw()
    {
        // Purely random input rarely passes the version checks; forcing them reaches the length and walk logic.
        var gen = RandomBytes(200).SelectMany(bytes => Gen.Elements<byte>(0x45, 0x46, 0x4F, 0x60, 0x61).Select(first =>
        {
            if (bytes.Length > 0) bytes[0] = first;
            return bytes;
        }));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(5000), Prop.ForAll(gen.ToArbitrary(), ParseEveryWay));
    }

    [Fact]
    public void Mutated_golden_frames_never_throw()
    {
        var gen = Gen.Elements(Golden.All).SelectMany(name =>
            Gen.ArrayOf(Gen.Zip(Gen.Choose(0, int.MaxValue), ArbMap.Default.GeneratorFor<byte>()), 4).SelectMany(edits =>
                Gen.Choose(0, 1600).Select(cut =>
                {
                    var frame = Golden.Get(name);
                    foreach (var (position, value) in edits) frame[position % frame.Length] = value;
                    return frame[..Math.Min(cut, frame.Length)];
                })));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(5000), Prop.ForAll(gen.ToArbitrary(), bytes =>
        {
            ParseEveryWay(bytes);
            // Inner layers on their own, as if the outer header had been stripped.
            if (bytes.Length > 14) ParseEveryWay(bytes[14..]);
            if (bytes.Length > 54) ParseStack.TryParseIcmpv6(bytes[54..], Ip1, Ip2, out _);
            return true;
        }));
    }

    [Fact]
    public void Ipv6_extension_chains_of_random_headers_never_throw()
    {
        // A fixed header naming a random extension header, followed by random bytes whose next-header bytes
        // are drawn from the extension-header numbers so the walk goes deep.
        var ext = new byte[] { 0, 43, 44, 51, 60, 58, 6, 59 };
        var gen = Gen.Choose(0, 160).SelectMany(n => Gen.ArrayOf(Gen.Elements(ext), n)).SelectMany(nexts =>
            Gen.ArrayOf(Gen.Choose(0, 3).Select(i => (byte)i), nexts.Length).Select(lengths =>
            {
                var packet = new byte[40 + nexts.Length];
                new Ipv6Repr(Ip1, Ip2, nexts.Length > 0 ? (IpProtocol)nexts[0] : IpProtocol.Ipv6NoNext, nexts.Length).Emit(packet);
                for (int i = 0; i < nexts.Length; i++) packet[40 + i] = (i % 2 == 0) ? nexts[i] : lengths[i];
                return packet;
            }));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3000), Prop.ForAll(gen.ToArbitrary(), bytes =>
        {
            if (Ipv6Packet.TryCreate(bytes, out var ip, out var error))
                return ip.UpperLayerOffset <= ip.Buffer.Length && ip.UpperLayerOffset >= 40 && error == WireError.None;
            return error != WireError.None;
        }));
    }
}
