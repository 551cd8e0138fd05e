using System.Runtime.InteropServices;
using System.Text;

namespace Engine.IO;

/// <summary>
/// A minimal binding to the system's liblmdb (Debian: liblmdb0), loaded on first use by its
/// library name, so builds and nets that never touch an LMDB need no native library. Databases
/// are Caffe's: a directory holding data.mdb (and lock.mdb), one unnamed database, byte keys.
/// </summary>
public static unsafe class Lmdb
{
    internal const string LibraryName = "liblmdb.so.0";
    internal const uint MdbNoSubdir = 0x4000, MdbRdOnly = 0x20000, MdbNoTls = 0x200000, MdbNoLock = 0x400000;
    internal const int MdbNotFound = -30798, MdbMapFull = -30792;
    internal const int OpFirst = 0, OpNext = 8;
    private const int EAccess = 13;

    [StructLayout(LayoutKind.Sequential)]
    internal struct Val { public nuint Size; public byte* Data; }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Stat { public uint PSize, Depth; public nuint BranchPages, LeafPages, OverflowPages, Entries; }

    internal sealed class Api
    {
        public delegate* unmanaged<nint*, int> EnvCreate;
        public delegate* unmanaged<nint, nuint, int> EnvSetMapsize;
        public delegate* unmanaged<nint, byte*, uint, uint, int> EnvOpen;
        public delegate* unmanaged<nint, void> EnvClose;
        public delegate* unmanaged<nint, nint, uint, nint*, int> TxnBegin;
        public delegate* unmanaged<nint, int> TxnCommit;
        public delegate* unmanaged<nint, void> TxnAbort;
        public delegate* unmanaged<nint, byte*, uint, uint*, int> DbiOpen;
        public delegate* unmanaged<nint, uint, Stat*, int> DbStat;
        public delegate* unmanaged<nint, uint, Val*, Val*, uint, int> Put;
        public delegate* unmanaged<nint, uint, nint*, int> CursorOpen;
        public delegate* unmanaged<nint, void> CursorClose;
        public delegate* unmanaged<nint, Val*, Val*, int, int> CursorGet;
        public delegate* unmanaged<int, byte*> StrError;
    }

    private static readonly Lock Gate = new();
    private static Api? _api;

    /// <summary>Whether liblmdb can be loaded on this machine.</summary>
    public static bool IsAvailable
    {
        get
        {
            try { _ = Native; return true; }
            catch (EngineException) { return false; }
        }
    }

    internal static Api Native
    {
        get
        {
            lock (Gate)
            {
                if (_api != null) return _api;
                if (!NativeLibrary.TryLoad(LibraryName, out nint lib))
                    throw new EngineException("LMDB support needs liblmdb (Debian: apt-get install liblmdb0)");
                nint F(string name) => NativeLibrary.GetExport(lib, name);
                _api = new Api
                {
                    EnvCreate = (delegate* unmanaged<nint*, int>)F("mdb_env_create"),
                    EnvSetMapsize = (delegate* unmanaged<nint, nuint, int>)F("mdb_env_set_mapsize"),
                    EnvOpen = (delegate* unmanaged<nint, byte*, uint, uint, int>)F("mdb_env_open"),
                    EnvClose = (delegate* unmanaged<nint, void>)F("mdb_env_close"),
                    TxnBegin = (delegate* unmanaged<nint, nint, uint, nint*, int>)F("mdb_txn_begin"),
                    TxnCommit = (delegate* unmanaged<nint, int>)F("mdb_txn_commit"),
                    TxnAbort = (delegate* unmanaged<nint, void>)F("mdb_txn_abort"),
                    DbiOpen = (delegate* unmanaged<nint, byte*, uint, uint*, int>)F("mdb_dbi_open"),
                    DbStat = (delegate* unmanaged<nint, uint, Stat*, int>)F("mdb_stat"),
                    Put = (delegate* unmanaged<nint, uint, Val*, Val*, uint, int>)F("mdb_put"),
                    CursorOpen = (delegate* unmanaged<nint, uint, nint*, int>)F("mdb_cursor_open"),
                    CursorClose = (delegate* unmanaged<nint, void>)F("mdb_cursor_close"),
                    CursorGet = (delegate* unmanaged<nint, Val*, Val*, int, int>)F("mdb_cursor_get"),
                    StrError = (delegate* unmanaged<int, byte*>)F("mdb_strerror"),
                };
                return _api;
            }
        }
    }

    internal static string Message(int rc) => Marshal.PtrToStringUTF8((nint)Native.StrError(rc)) ?? $"error {rc}";

    internal static void Check(int rc, string path, string what)
    {
        if (rc != 0) throw new EngineException($"LMDB \"{path}\": {what} failed: {Message(rc)}");
    }

    /// <summary>Create an environment and open <paramref name="path"/> (a directory, or a data file with NOSUBDIR).</summary>
    internal static nint OpenEnv(string path, uint flags, nuint mapSize, out int rc)
    {
        var api = Native;
        nint env;
        Check(api.EnvCreate(&env), path, "mdb_env_create");
        if (mapSize != 0)
        {
            rc = api.EnvSetMapsize(env, mapSize);
            if (rc != 0) { api.EnvClose(env); return 0; }
        }
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes) rc = api.EnvOpen(env, p, flags, 0b110_110_100);
        if (rc != 0) { api.EnvClose(env); return 0; }
        return env;
    }

    internal static bool IsAccessDenied(int rc) => rc == EAccess;
}

/// <summary>
/// Reads one LMDB database in key order with a cursor inside one read-only transaction, held
/// until disposed. <see cref="Next"/> wraps around to the first record at the end.
/// </summary>
public sealed unsafe class LmdbReader : IDisposable
{
    private nint _env, _txn, _cursor;
    private readonly uint _dbi;
    private bool _positioned;

    /// <summary>The database's path as given.</summary>
    public string Path { get; }

    /// <summary>Records in the database.</summary>
    public long Count { get; }

    /// <summary>Open <paramref name="path"/> read-only: a directory with data.mdb, or the data file itself.</summary>
    public LmdbReader(string path)
    {
        Path = path;
        var api = Lmdb.Native;
        uint flags = Lmdb.MdbRdOnly | Lmdb.MdbNoTls;
        if (File.Exists(path)) flags |= Lmdb.MdbNoSubdir;
        else if (!Directory.Exists(path)) throw new EngineException($"\"{path}\": no such LMDB database{InputFile.WhereRelative(path)}");
        else if (!File.Exists(System.IO.Path.Combine(path, "data.mdb")))
            throw new EngineException($"\"{path}\" is a directory without data.mdb; it is not an LMDB database");
        _env = Lmdb.OpenEnv(path, flags, 0, out int rc);
        // A read-only folder cannot hold the lock file; Caffe reads such databases without one.
        if (_env == 0 && Lmdb.IsAccessDenied(rc)) _env = Lmdb.OpenEnv(path, flags | Lmdb.MdbNoLock, 0, out rc);
        if (_env == 0) throw new EngineException($"LMDB \"{path}\": cannot open: {Lmdb.Message(rc)}");
        try
        {
            nint txn;
            Lmdb.Check(api.TxnBegin(_env, 0, Lmdb.MdbRdOnly, &txn), path, "mdb_txn_begin");
            _txn = txn;
            uint dbi;
            Lmdb.Check(api.DbiOpen(_txn, null, 0, &dbi), path, "mdb_dbi_open");
            _dbi = dbi;
            Lmdb.Stat stat;
            Lmdb.Check(api.DbStat(_txn, _dbi, &stat), path, "mdb_stat");
            Count = (long)stat.Entries;
            nint cursor;
            Lmdb.Check(api.CursorOpen(_txn, _dbi, &cursor), path, "mdb_cursor_open");
            _cursor = cursor;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Go back to before the first record: the next <see cref="Next"/> returns it.</summary>
    public void Rewind() => _positioned = false;

    /// <summary>The next record (key, value), copied out; after the last record, the first again.</summary>
    public (byte[] key, byte[] value) Next()
    {
        ObjectDisposedException.ThrowIf(_cursor == 0, this);
        if (Count == 0) throw new EngineException($"LMDB \"{Path}\" holds no records");
        var api = Lmdb.Native;
        Lmdb.Val k, v;
        int rc = api.CursorGet(_cursor, &k, &v, _positioned ? Lmdb.OpNext : Lmdb.OpFirst);
        if (rc == Lmdb.MdbNotFound && _positioned) rc = api.CursorGet(_cursor, &k, &v, Lmdb.OpFirst);
        Lmdb.Check(rc, Path, "mdb_cursor_get");
        _positioned = true;
        return (new ReadOnlySpan<byte>(k.Data, checked((int)k.Size)).ToArray(), new ReadOnlySpan<byte>(v.Data, checked((int)v.Size)).ToArray());
    }

    /// <summary>Move past <paramref name="n"/> records without copying them.</summary>
    public void Skip(long n)
    {
        var api = Lmdb.Native;
        Lmdb.Val k, v;
        for (long i = 0; i < n; i++)
        {
            int rc = api.CursorGet(_cursor, &k, &v, _positioned ? Lmdb.OpNext : Lmdb.OpFirst);
            if (rc == Lmdb.MdbNotFound && _positioned) rc = api.CursorGet(_cursor, &k, &v, Lmdb.OpFirst);
            Lmdb.Check(rc, Path, "mdb_cursor_get");
            _positioned = true;
        }
    }

    private void Release()
    {
        if (_env == 0) return;
        var api = Lmdb.Native;
        if (_cursor != 0) { api.CursorClose(_cursor); _cursor = 0; }
        if (_txn != 0) { api.TxnAbort(_txn); _txn = 0; }
        api.EnvClose(_env);
        _env = 0;
    }

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    ~LmdbReader() => Release();
}

/// <summary>
/// Writes a new LMDB database (a directory, as Caffe's tools make). Records are buffered and
/// written in one transaction per <see cref="Commit"/>; when the map fills, the transaction is
/// dropped, the map size doubled and the batch written again (Caffe's db_lmdb does the same).
/// </summary>
public sealed unsafe class LmdbWriter : IDisposable
{
    private nint _env;
    private nuint _mapSize;
    private readonly List<(byte[] key, byte[] value)> _pending = [];

    public string Path { get; }

    /// <summary>Create the database directory <paramref name="path"/>, which must not exist yet.</summary>
    public LmdbWriter(string path, nuint initialMapSize = 1 << 20)
    {
        Path = path;
        _ = Lmdb.Native;
        if (Directory.Exists(path) || File.Exists(path))
            throw new EngineException($"\"{path}\" already exists; give a new path for the database");
        Directory.CreateDirectory(path);
        _mapSize = initialMapSize;
        _env = Lmdb.OpenEnv(path, 0, _mapSize, out int rc);
        if (_env == 0) throw new EngineException($"LMDB \"{path}\": cannot create: {Lmdb.Message(rc)}");
    }

    /// <summary>The current map size (grows by doubling as records arrive).</summary>
    public ulong MapSize => _mapSize;

    public void Put(byte[] key, byte[] value) => _pending.Add((key, value));

    /// <summary>Write the buffered records in one transaction.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_env == 0, this);
        var api = Lmdb.Native;
        while (true)
        {
            nint txn;
            Lmdb.Check(api.TxnBegin(_env, 0, 0, &txn), Path, "mdb_txn_begin");
            uint dbi;
            int rc = api.DbiOpen(txn, null, 0, &dbi);
            for (int i = 0; rc == 0 && i < _pending.Count; i++)
            {
                var (key, value) = _pending[i];
                fixed (byte* kp = key, vp = value)
                {
                    var k = new Lmdb.Val { Size = (nuint)key.Length, Data = kp };
                    var v = new Lmdb.Val { Size = (nuint)value.Length, Data = vp };
                    rc = api.Put(txn, dbi, &k, &v, 0);
                }
            }
            if (rc == 0)
            {
                rc = api.TxnCommit(txn);
                if (rc == Lmdb.MdbMapFull) { Grow(); continue; }
                Lmdb.Check(rc, Path, "mdb_txn_commit");
                _pending.Clear();
                return;
            }
            api.TxnAbort(txn);
            if (rc != Lmdb.MdbMapFull) Lmdb.Check(rc, Path, "mdb_put");
            Grow();
        }
    }

    private void Grow()
    {
        _mapSize *= 2;
        Lmdb.Check(Lmdb.Native.EnvSetMapsize(_env, _mapSize), Path, "mdb_env_set_mapsize");
    }

    private void Release()
    {
        if (_env == 0) return;
        Lmdb.Native.EnvClose(_env);
        _env = 0;
    }

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    ~LmdbWriter() => Release();
}
