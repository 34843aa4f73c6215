using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Issue 3 performance goal: at most 2 KiB per idle connection, excluding data buffers.</summary>
public class FootprintTests
{
    [Fact]
    public void IdleConnection_CostsAtMostTwoKiB_ExcludingBuffers()
    {
        const int count = 2000;
        const int bufferSize = 64;
        var config = new TcpConfig { ReceiveBufferSize = bufferSize, IsnGenerator = new IsnGenerator(new byte[32]) };
        var addresses = TcpEndpointAddresses.Ipv4(new Ipv4Address(10, 3, 0, 1), new Ipv4Address(10, 3, 0, 2));
        var machines = new TcpMachine[count];
        long before = GC.GetTotalMemory(forceFullCollection: true);
        for (int i = 0; i < count; i++) machines[i] = TcpMachine.Connect(config, addresses, (ushort)(10000 + i), 80, Instant.FromSeconds(1));
        long after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(machines);
        // The receive ring's byte array (bufferSize + the 24-byte array header) is the buffer the goal excludes.
        double perConnection = (double)(after - before) / count - (bufferSize + 24);
        Assert.True(perConnection <= 2048, $"{perConnection:F0} bytes per idle connection");
        Console.WriteLine($"idle connection: {perConnection:F0} bytes excluding buffers");
    }
}
