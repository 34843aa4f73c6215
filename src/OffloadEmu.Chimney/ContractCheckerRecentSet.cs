namespace OffloadEmu.Chimney;

/// <summary>
/// The last <c>capacity</c> objects added, by reference: how a <see cref="ContractChecker"/> tells a second completion
/// (or return) from one of a request never made, without remembering every NBL forever.
/// </summary>
/// <remarks>Fixed-size ring plus a pre-sized set: adding and removing allocate nothing once warm.</remarks>
internal sealed class ContractCheckerRecentSet
{
    private readonly HashSet<object> _set;
    private readonly Queue<object> _order;
    private readonly int _capacity;

    public ContractCheckerRecentSet(int capacity)
    {
        _capacity = capacity;
        _set = new HashSet<object>(capacity + 1, ReferenceEqualityComparer.Instance);
        _order = new Queue<object>(capacity + 1);
    }

    public void Add(object item)
    {
        if (!_set.Add(item)) return;
        _order.Enqueue(item);
        if (_order.Count > _capacity) _set.Remove(_order.Dequeue());
    }

    public bool Contains(object item) => _set.Contains(item);

    /// <summary>Forgets <paramref name="item"/> (it was issued again); its ring slot ages out harmlessly.</summary>
    public void Remove(object item) => _set.Remove(item);
}
