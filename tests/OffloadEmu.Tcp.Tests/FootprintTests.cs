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
        const int bufferSize = 64 * 1024;
        var config = new TcpConfig { ReceiveBufferSize = bufferSize, IsnGenerator = new IsnGenerator(new byte[32]) };
        var addresses = TcpEndpointAddresses.Ipv4(new Ipv4Address(10, 3, 0, 1), new Ipv4Address(10, 3, 0, 2));
        var machines = new TcpMachine[count];
        // Bytes allocated by this thread (an upper bound of what stays reachable): unlike GC.GetTotalMemory it is not
        // disturbed by test classes running in parallel.
        machines[0] = TcpMachine.Connect(config, addresses, 9999, 80, Instant.FromSeconds(1)); // warm-up (static state)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < count; i++) machines[i] = TcpMachine.Connect(config, addresses, (ushort)(10000 + i), 80, Instant.FromSeconds(1));
        long after = GC.GetAllocatedBytesForCurrentThread();
        GC.KeepAlive(machines);
        // An idle machine holds no receive buffer (it is taken from the pool only while bytes are buffered), so nothing
        // is subtracted: this is the whole machine.
        foreach (var m in machines) Assert.False(m.HoldsReceiveBuffer);
        double perConnection = (double)(after - before) / count;
        Assert.True(perConnection <= 2048, $"{perConnection:F0} bytes per idle connection");
        Console.WriteLine($"idle connection: {perConnection:F0} bytes excluding buffers");
    }
}
