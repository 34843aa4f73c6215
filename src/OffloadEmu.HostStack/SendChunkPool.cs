namespace OffloadEmu.HostStack;

/// <summary>A bounded thread-safe pool of <see cref="SendChunk"/>s (writers rent on application threads, the engine
/// returns them on completion).</summary>
internal sealed class SendChunkPool(int chunkSize, int maxPooled = 4096)
{
    private readonly Lock _lock = new();
    private readonly Stack<SendChunk> _free = new();

    public int ChunkSize => chunkSize;

    public SendChunk Rent()
    {
        lock (_lock)
        {
            if (_free.TryPop(out var chunk)) return chunk;
        }
        return new SendChunk(chunkSize);
    }

    public void Return(SendChunk chunk)
    {
        chunk.Connection = null;
        lock (_lock)
        {
            if (_free.Count < maxPooled) _free.Push(chunk);
        }
    }
}
