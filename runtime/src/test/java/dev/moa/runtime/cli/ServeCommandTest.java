package dev.moa.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code moa serve}'s byte counts: a number with an optional K/M/G suffix (powers of 1024); anything else is one clear sentence. */
class ServeCommandTest {
    @Test
    void byteCountsTakeBinarySuffixes() {
        assertEquals(4096, ServeCommand.bytes("4096", "--max-body"));
        assertEquals(512L << 20, ServeCommand.bytes("512M", "--kv-budget"));
        assertEquals(2L << 30, ServeCommand.bytes("2g", "--kv-budget"));
        assertEquals(1536, ServeCommand.bytes("1.5K", "--max-body"));
        assertEquals(3L << 30, ServeCommand.bytes("3GB", "--kv-budget"));
        for (String bad : new String[] {"", "G", "-1M", "0", "lots", "1T", "1e30G"}) {
            var e = assertThrows(UsageException.class, () -> ServeCommand.bytes(bad, "--kv-budget"), bad);
            assertTrue(e.getMessage().startsWith("--kv-budget must be"), e.getMessage());
        }
    }
}
