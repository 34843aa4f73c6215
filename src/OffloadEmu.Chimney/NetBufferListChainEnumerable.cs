namespace OffloadEmu.Chimney;

/// <summary>A chain of <see cref="NetBufferList"/>s usable in <c>foreach</c> without allocation.</summary>
/// <remarks>Chimney spec §0; made by <see cref="NetBufferListChain.Enumerate"/>.</remarks>
public readonly struct NetBufferListChainEnumerable
{
    private readonly NetBufferList? _head;

    /// <summary>Wraps the chain starting at <paramref name="head"/>.</summary>
    public NetBufferListChainEnumerable(NetBufferList? head) => _head = head;

    /// <summary>Returns the enumerator.</summary>
    public Enumerator GetEnumerator() => new(_head);

    /// <summary>Walks the chain through <see cref="NetBufferList.Next"/>.</summary>
    public struct Enumerator
    {
        private NetBufferList? _next;
        private NetBufferList? _current;

        internal Enumerator(NetBufferList? head)
        {
            _next = head;
            _current = null;
        }

        /// <summary>The current list.</summary>
        public readonly NetBufferList Current => _current!;

        /// <summary>Moves to the next list; reads <see cref="NetBufferList.Next"/> before handing the current one out,
        /// so the body may unlink or complete it.</summary>
        public bool MoveNext()
        {
            _current = _next;
            _next = _current?.Next;
            return _current is not null;
        }
    }
}
