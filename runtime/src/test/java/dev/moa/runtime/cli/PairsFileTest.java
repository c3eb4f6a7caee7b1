package dev.moa.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The prompt/answer pairs of {@code eval ppl --pairs} are JSON Lines read strictly: no silent second "answer". */
class PairsFileTest {
    @TempDir
    Path dir;

    private String error(String content) throws Exception {
        Path file = dir.resolve("pairs.jsonl");
        Files.writeString(file, content);
        return assertThrows(UsageException.class, () -> EvalCommand.readPairs(file)).getMessage();
    }

    @Test
    void eachLineIsOneStrictObject() throws Exception {
        Path file = dir.resolve("good.jsonl");
        Files.writeString(file, "{\"prompt\": \"2+2=\", \"answer\": \"4\"}\r\n\n{\"prompt\": \"caf\u00e9\", \"answer\": \"\\u00e9\"}\n");
        var pairs = EvalCommand.readPairs(file);
        assertEquals(2, pairs.size());
        assertEquals("\u00e9", pairs.get(1).answer());

        String twice = error("{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"a\", \"answer\": \"b\", \"answer\": \"c\"}\n");
        assertTrue(twice.contains("pairs.jsonl line 2") && twice.contains("\"answer\" appears twice") && twice.contains("column"), twice);
        String comma = error("{\"prompt\": \"a\", \"answer\": \"b\",}\n");
        assertTrue(comma.contains("line 1") && !comma.contains("LENIENT"), comma);
        assertTrue(error("[1, 2]\n").contains("line 1: the top level is not a JSON object"));
    }
}
