using System.Buffers.Binary;
using System.Diagnostics;
using Xunit.Abstractions;

namespace OffloadEmu.Target.Tests;

[CollectionDefinition(nameof(FrameFuzzTests), DisableParallelization = true)]
public sealed class FrameFuzzCollection;

/// <summary>
/// Issue 8, fuzzing: seeded random and mutated frames thrown at a live target for a bounded wall-clock time while an
/// offloaded connection moves data both ways. Nothing may escape, memory stays bounded, both streams arrive byte-exact
/// and every frame the target received is accounted for by a counter.
/// </summary>
/// <remarks>Runs alone (no other test class in parallel): the memory bound is read from the process-wide managed
/// heap.</remarks>
[Collection(nameof(FrameFuzzTests))]
public sealed class FrameFuzzTests(ITestOutputHelper output)
{
    private const int EthernetLength = 14;
    private const int IpStart = EthernetLength;
    private const int TcpStart = EthernetLength + 20;
    // A shift that puts any sequence number far outside a window of at most 1 GiB (RFC 7323 limit): a segment with a
    // right checksum but this sequence number is unacceptable (RFC 793 §3.9, RFC 5961 §3–§5), so whatever else it
    // carries (flags, ACK, options) must not touch the connection's streams.
    private const uint OutOfWindow = 0x8000_0000;

    [Theory]
    [InlineData(8001)]
    [InlineData(8002)]
    public void Random_and_mutated_frames_beside_a_live_offloaded_connection(int seed)
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        ulong ctx = lab.Offload(host);
        var rng = new Random(seed);

        // Real peer → target frames, captured as they pass (the corpus the mutations start from).
        var corpus = new List<byte[]>();
        long realFrames = 0;
        lab.DropToTarget = frame =>
        {
            realFrames++;
            if (corpus.Count < 256) corpus.Add(frame.ToArray());
            else corpus[rng.Next(corpus.Count)] = frame.ToArray();
            return false;
        };

        var upstream = Nbls.Pattern(1 << 20, seed: seed);      // host → peer, repeated
        var downstream = Nbls.Pattern(1 << 20, seed: seed + 1); // peer → host, repeated
        long hostSent = 0, peerGot = 0, peerSent = 0, hostGot = 0;
        const int Chunk = 16 * 1024;
        const int Backlog = 128 * 1024;
        int sendsOutstanding = 0;
        var failures = new List<string>();

        void Pump()
        {
            while (hostSent - peerGot < Backlog && sendsOutstanding < 8)
            {
                var data = new byte[Chunk];
                for (int i = 0; i < Chunk; i++) data[i] = upstream[(int)((hostSent + i) & (upstream.Length - 1))];
                Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadSend(ctx, Nbls.Send(data)));
                hostSent += Chunk;
                sendsOutstanding++;
            }
            while (peerSent - hostGot < Backlog && lab.Peer.SendQueueBytes < Backlog)
            {
                var data = new byte[Chunk];
                for (int i = 0; i < Chunk; i++) data[i] = downstream[(int)((peerSent + i) & (downstream.Length - 1))];
                Assert.True(lab.Peer.Enqueue(new MemorySendBuffer(data)));
                peerSent += Chunk;
            }
        }

        void Drain()
        {
            sendsOutstanding -= lab.Host.SendsCompleted.Count;
            foreach (var nbl in lab.Host.SendsCompleted) Assert.Equal(NdisStatus.Success, nbl.Status);
            lab.Host.SendsCompleted.Clear();
            lab.Host.ReturnAccepted();
            peerGot = Check(lab.PeerReceived, upstream, peerGot, "host → peer", failures);
            hostGot = Check(lab.Host.IndicatedData, downstream, hostGot, "peer → host", failures);
            lab.Host.Frames.Clear(); // frames passed up: the host's business, not the target's memory
            lab.Host.Indications.Clear();
            lab.WireFromTarget.Clear();
        }

        // Warm up: real traffic only, so the corpus fills and steady-state buffers exist before the memory baseline.
        for (int i = 0; i < 2000; i++)
        {
            Pump();
            lab.Step();
            lab.Now = lab.Now.AddMicroseconds(500);
            Drain();
        }
        Assert.NotEmpty(corpus);
        Assert.True(peerGot > 0 && hostGot > 0, "no data moved before fuzzing");
        var tcp0 = lab.Target.QueryTcpStatistics(false);
        long up0 = lab.Target.FramesUp, dropped0 = lab.Target.DroppedFrames, real0 = realFrames;
        long linkDrops0 = lab.PeerSide.Statistics.TotalDrops + lab.NicSide.Statistics.TotalDrops;
        long before = GC.GetTotalMemory(forceFullCollection: true);

        var kinds = new long[Mutations];
        long injected = 0, iterations = 0;
        var clock = Stopwatch.StartNew();
        // A fixed number of rounds, not a time budget: the same seed throws the same frames on a loaded machine too.
        while (iterations < FuzzRounds)
        {
            Pump();
            int burst = rng.Next(1, 8);
            for (int i = 0; i < burst; i++)
            {
                int kind = rng.Next(Mutations);
                var frame = Mutate(kind, corpus[rng.Next(corpus.Count)], rng, lab);
                kinds[kind]++;
                lab.Inject(frame);
                injected++;
            }
            lab.Step();
            lab.Now = lab.Now.AddMicroseconds(500);
            Drain();
            iterations++;
        }
        long after = GC.GetTotalMemory(forceFullCollection: true);

        // Quiet: the streams catch up and match byte for byte.
        // (the capture hook stays: it counts the real frames of this phase too)
        lab.RunUntil(() =>
        {
            Drain();
            return peerGot == hostSent && hostGot == peerSent;
        }, TimeSpan.FromSeconds(60));
        Assert.Empty(failures);
        Assert.Equal(1, lab.Target.ConnectionCount);
        Assert.Equal(TcpState.Established, lab.Peer.State);
        Assert.DoesNotContain(lab.Host.Events, e => e.Type != TcpOffloadEventType.SendBacklogChange); // no upload, abort or disconnect
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);

        // Accounting: every frame that reached the target during the fuzz phase is a processed TCP segment, a checksum
        // error, a frame passed up to the host, or a counted drop (target or link).
        var tcp1 = lab.Target.QueryTcpStatistics(false);
        long up = lab.Target.FramesUp - up0, dropped = lab.Target.DroppedFrames - dropped0;
        long linkDrops = lab.PeerSide.Statistics.TotalDrops + lab.NicSide.Statistics.TotalDrops - linkDrops0;
        long segments = (long)(tcp1.InSegments - tcp0.InSegments), errors = (long)(tcp1.InErrors - tcp0.InErrors);
        long real = realFrames - real0;
        output.WriteLine($"seed {seed}: {iterations} iterations, {injected} hostile frames, {real} real frames in {clock.Elapsed.TotalSeconds:F1} s");
        output.WriteLine($"by kind: {string.Join(", ", Enumerable.Range(0, Mutations).Select(k => $"{Names[k]} {kinds[k]}"))}");
        output.WriteLine($"passed up {up}, TCP segments {segments}, TCP checksum errors {errors}, target drops {dropped}, link drops {linkDrops}");
        output.WriteLine($"streams: host → peer {peerGot} B, peer → host {hostGot} B; managed memory before {before} after {after}");
        Assert.Equal(injected + real, up + segments + errors + dropped + linkDrops);
        Assert.True(errors > 0 && up > 0, "the fuzz reached neither the checksum check nor the pass-up path");
        // Bounded memory: the whole process (test bookkeeping included) may not grow by more than 16 MiB over a run
        // that threw hundreds of thousands of frames; a leak per frame would be far more.
        Assert.InRange(after - before, long.MinValue, 16L << 20);
    }

    private static long Check(MemoryStream received, byte[] pattern, long offset, string what, List<string> failures)
    {
        var bytes = received.GetBuffer().AsSpan(0, (int)received.Length);
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != pattern[(int)((offset + i) & (pattern.Length - 1))])
            {
                if (failures.Count < 5) failures.Add($"{what}: byte {offset + i} differs");
                break;
            }
        }
        received.SetLength(0);
        return offset + bytes.Length;
    }

    private const int Mutations = 12;
    private const int FuzzRounds = 3000;

    private static readonly string[] Names =
    [
        "random", "truncated", "extended", "byte-flip", "tcp-fields", "tcp-options", "data-offset", "ip-fields",
        "vlan-replay", "arp", "ipv6", "replay",
    ];

    private static byte[] Mutate(int kind, byte[] real, Random rng, TargetLab lab)
    {
        switch (kind)
        {
            case 0: // random bytes, any length a link carries (and a few runts)
            {
                var f = new byte[rng.Next(0, 1515)];
                rng.NextBytes(f);
                return f;
            }
            case 1: // truncated anywhere, headers included
                return real.AsSpan(0, rng.Next(0, real.Length)).ToArray();
            case 2: // extended past the IP total length with junk (Ethernet padding the IP layer must ignore)
            {
                var f = new byte[Math.Min(1514, real.Length + rng.Next(1, 200))];
                rng.NextBytes(f);
                real.CopyTo(f, 0);
                return f;
            }
            case 3: // one byte changed anywhere, checksums left stale (a single-byte change always breaks them)
            {
                var f = (byte[])real.Clone();
                int at = rng.Next(IpStart, f.Length);
                f[at] ^= (byte)rng.Next(1, 256);
                return f;
            }
            case 4: // TCP fields rewritten with a right checksum, sequence number out of window
            {
                var f = (byte[])real.Clone();
                var tcp = f.AsSpan(TcpStart);
                ShiftOutOfWindow(tcp, rng);
                switch (rng.Next(5))
                {
                    case 0: tcp[13] = (byte)rng.Next(256); break; // any flags: SYN, RST, URG, FIN, all of them
                    case 1: BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], (uint)rng.Next()); tcp[13] |= 0x10; break; // ACK anywhere
                    case 2: BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], (ushort)rng.Next(65536)); break; // window
                    case 3: BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], (ushort)rng.Next(65536)); tcp[13] |= 0x20; break; // URG ptr
                    default: BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], (ushort)rng.Next(65536)); break; // other port
                }
                FillTcpChecksum(tcp);
                return f;
            }
            case 5: // option garbage: lengths 0 and 1, overrunning, unknown kinds, truncated SACK/timestamps
            {
                var tcp = real.AsSpan(TcpStart);
                int headerLength = (tcp[12] >> 4) * 4;
                var payload = tcp[Math.Min(headerLength, tcp.Length)..];
                int options = 4 * rng.Next(1, 11);
                var seg = new byte[20 + options + payload.Length];
                tcp[..20].CopyTo(seg);
                var opts = seg.AsSpan(20, options);
                rng.NextBytes(opts);
                // Bias towards the kinds the parser knows, with lengths that lie.
                for (int i = 0; i < options; i += rng.Next(1, 6))
                {
                    opts[i] = (byte)(rng.Next(3) == 0 ? rng.Next(256) : rng.Next(0, 9));
                    if (i + 1 < options) opts[i + 1] = (byte)(rng.Next(2) == 0 ? rng.Next(0, 3) : rng.Next(256));
                }
                payload.CopyTo(seg.AsSpan(20 + options));
                seg[12] = (byte)(((20 + options) / 4) << 4 | (seg[12] & 0x0F));
                ShiftOutOfWindow(seg, rng);
                FillTcpChecksum(seg);
                return lab.FrameFromPeer(seg);
            }
            case 6: // data offset out of range (0–4, or past the segment), right checksum
            {
                var f = (byte[])real.Clone();
                var tcp = f.AsSpan(TcpStart);
                tcp[12] = (byte)((rng.Next(2) == 0 ? rng.Next(0, 5) : rng.Next(5, 16)) << 4 | (tcp[12] & 0x0F));
                ShiftOutOfWindow(tcp, rng);
                FillTcpChecksum(tcp);
                return f;
            }
            case 7: // IPv4 header fields rewritten with a right header checksum: lengths, IHL, fragments, protocol
            {
                var f = (byte[])real.Clone();
                var ip = f.AsSpan(IpStart);
                switch (rng.Next(6))
                {
                    case 0: BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)rng.Next(0, 1600)); break;
                    case 1: ip[0] = (byte)(0x40 | rng.Next(16)); break; // IHL 0–15
                    case 2: BinaryPrimitives.WriteUInt16BigEndian(ip[6..], (ushort)rng.Next(65536)); break; // MF/offset
                    case 3: ip[9] = (byte)rng.Next(256); break; // protocol
                    case 4: ip[0] = (byte)(rng.Next(16) << 4 | 5); break; // version
                    default: ip[19] ^= (byte)rng.Next(1, 256); break; // destination address
                }
                BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
                BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip[..Math.Max(20, Math.Min(ip.Length, (ip[0] & 0x0F) * 4))]));
                return f;
            }
            case 8: // the same segment again with an 802.1Q tag (any id: the path's VlanId is 0, so it is a duplicate)
            {
                var f = new byte[real.Length + 4];
                real.AsSpan(0, 12).CopyTo(f);
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x8100);
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14), (ushort)rng.Next(65536));
                real.AsSpan(12).CopyTo(f.AsSpan(16));
                return f;
            }
            case 9: // ARP with random operation, lengths and addresses
            {
                var f = new byte[rng.Next(14, 64)];
                rng.NextBytes(f);
                real.AsSpan(0, 12).CopyTo(f);
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0806);
                return f;
            }
            case 10: // IPv6 with random next header and payload length (the connection is IPv4: nothing matches)
            {
                var f = new byte[rng.Next(14, 200)];
                rng.NextBytes(f);
                real.AsSpan(0, 12).CopyTo(f);
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x86DD);
                if (f.Length > 14) f[14] = (byte)(0x60 | (f[14] & 0x0F));
                return f;
            }
            default: // an old segment replayed verbatim (duplicate data, stale ACK and window)
                return (byte[])real.Clone();
        }
    }

    private static void ShiftOutOfWindow(Span<byte> tcp, Random rng)
    {
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq + OutOfWindow + (uint)rng.Next(1 << 24));
    }

    private static void FillTcpChecksum(Span<byte> tcp)
    {
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], 0);
        ulong pseudo = InternetChecksum.PseudoHeader(TargetLab.PeerIp, TargetLab.HostIp, IpProtocol.Tcp, tcp.Length);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Finish(InternetChecksum.Accumulate(tcp, pseudo)));
    }
}
