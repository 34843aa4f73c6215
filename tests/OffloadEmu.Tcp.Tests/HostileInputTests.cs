using FsCheck;
using FsCheck.Fluent;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Chimney spec §6.5 and RFC 9293 MUST-7: whatever arrives — random headers near or far from the window, any
/// flag combination, options, garbage bytes — the machine never throws and its invariants hold.</summary>
public class HostileInputTests
{
    private static void CheckInvariants(TcpMachine m)
    {
        Assert.True(m.SndUna <= m.SndNxt && m.SndNxt <= m.SndMax, m.DebugState);
        Assert.True(m.RcvWnd <= BufferSize, m.DebugState);
        Assert.True(m.ReceiveBufferedBytes <= BufferSize, m.DebugState);
        Assert.True(m.OutOfOrderRanges <= 16, m.DebugState);
    }

    private static Harness Build(int kind, bool timestamps, bool sack)
    {
        var config = Config(c => new TcpConfig
        {
            Timestamps = timestamps,
            Sack = sack,
            WindowScaling = false,
            ReceiveBufferSize = BufferSize,
            IsnGenerator = c.IsnGenerator,
        });
        return kind switch
        {
            0 => Listen(config),
            1 => SynSent(config),
            2 => SynReceived(config),
            3 => FinWait1(config),
            4 => CloseWait(config),
            _ => Established(config),
        };
    }

    [Fact]
    public void RandomSegments_NeverThrow_AndKeepInvariants()
    {
        var gen =
            from kind in Gen.Choose(0, 5)
            from seed in Gen.Choose(0, int.MaxValue)
            select (kind, seed);
        Check.One(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(1000), Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var rng = new Random(t.seed);
            var h = Build(t.kind, timestamps: rng.Next(2) == 0, sack: rng.Next(2) == 0);
            for (int i = 0; i < 40; i++)
            {
                if (rng.Next(8) == 0)
                {
                    // Garbage of any length, sometimes with a valid checksum so it reaches the option parser.
                    var junk = new byte[rng.Next(0, 80)];
                    rng.NextBytes(junk);
                    if (junk.Length >= 20 && rng.Next(2) == 0 && TcpSegment.TryCreate(junk, out var seg))
                        seg.FillChecksum(RemoteIp, LocalIp);
                    h.M.ProcessSegment(junk, h.Now);
                }
                else
                {
                    h.Send(RandomSegment(rng, h.M), new byte[rng.Next(0, 3) == 0 ? rng.Next(0, 3000) : 0]);
                }
                if (rng.Next(4) == 0) h.Advance(rng.Next(0, 3000));
                h.Recv();
                CheckInvariants(h.M);
                h.M.TakeEvents();
            }
        }));
    }

    private static TcpRepr RandomSegment(Random rng, TcpMachine m)
    {
        SeqNumber Near(SeqNumber s) => rng.Next(3) switch
        {
            0 => s + rng.Next(-5000, 5000),
            1 => s,
            _ => new SeqNumber((uint)rng.NextInt64(0, uint.MaxValue)),
        };
        var flags = (TcpFlags)rng.Next(0, 0x200) & ~TcpFlags.Ack;
        var options = new TcpOptions
        {
            MaxSegmentSize = rng.Next(4) == 0 ? (ushort)rng.Next(0, 65536) : null,
            WindowScale = rng.Next(4) == 0 ? (byte)rng.Next(0, 256) : null,
            SackPermitted = rng.Next(4) == 0,
            Timestamps = rng.Next(2) == 0 ? new TcpTimestamps((uint)rng.NextInt64(0, uint.MaxValue), (uint)rng.NextInt64(0, uint.MaxValue)) : null,
        };
        if (rng.Next(3) == 0)
        {
            Span<SackBlock> blocks = stackalloc SackBlock[3];
            for (int i = 0; i < blocks.Length; i++) blocks[i] = new SackBlock(Near(m.SndUna), Near(m.SndMax));
            options = options.WithSackBlocks(blocks);
        }
        return SendTemplate with
        {
            Flags = flags,
            SequenceNumber = Near(m.RcvNxt),
            AckNumber = rng.Next(4) == 0 ? null : Near(m.SndUna),
            Window = (ushort)rng.Next(0, 65536),
            UrgentPointer = (ushort)rng.Next(0, 65536),
            Options = options,
        };
    }
}
