namespace OffloadEmu.Link.Devices;

/// <summary>Picks the queue of a multi-queue <see cref="MemoryLink"/> a frame arrives on (0 … <paramref name="queues"/> − 1).</summary>
/// <param name="frame">The whole Ethernet frame.</param>
/// <param name="queues">How many queues there are.</param>
public delegate int MemoryLinkSteering(ReadOnlySpan<byte> frame, int queues);
