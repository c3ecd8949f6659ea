/*
 * recorded_vectors.h — pgoutput messages recorded from PostgreSQL 15.18
 * (tests/tools/capture; the SQL is in test_pgoutput.c), shared by the
 * encoder suites so JSON and Protobuf are tested on the same bytes.
 */
#ifndef SLUICE_TEST_RECORDED_VECTORS_H
#define SLUICE_TEST_RECORDED_VECTORS_H

/* RELATION public.items (id int4 key, name text, price float8, m mood, data bytea, ok bool) */
#define REC_ITEMS_RELATION                                                                          \
    "52000040097075626c6963006974656d73006400060169640000000017ffffffff006e616d650000000019ffffffff" \
    "00707269636500000002bdffffffff006d0000004003ffffffff00646174610000000011ffffffff006f6b000000"   \
    "0010ffffffff"
/* INSERT INTO items VALUES (1, 'widget "A"', 9.5, 'happy', '\x01ff', true) */
#define REC_ITEMS_INSERT                                                                          \
    "49000040094e0006740000000131740000000a776964676574202241227400000003392e35740000000568617070" \
    "7974000000065c7830316666740000000174"
/* UPDATE items SET id = 2 WHERE id = 1 (after name = 'gadget', price = 'NaN') */
#define REC_ITEMS_UPDATE_KEY                                                                      \
    "55000040094b00067400000001316e6e6e6e6e4e0006740000000132740000000667616467657474000000034e61" \
    "4e7400000005686170707974000000065c7830316666740000000174"
/* DELETE FROM items WHERE id = 2 */
#define REC_ITEMS_DELETE_KEY "44000040094b00067400000001326e6e6e6e6e"
/* RELATION public.full_t (id int4, note text), REPLICA IDENTITY FULL */
#define REC_FULL_RELATION                                                                         \
    "52000040107075626c69630066756c6c5f74006600020169640000000017ffffffff016e6f74650000000019ffff" \
    "ffff"
/* UPDATE full_t SET note = 'y' WHERE id = 1 */
#define REC_FULL_UPDATE "55000040104f00027400000001317400000001784e0002740000000131740000000179"
/* RELATION public.docs (id int4 key, title text, body text) */
#define REC_DOCS_RELATION                                                                         \
    "52000040157075626c696300646f6373006400030169640000000017ffffffff007469746c650000000019ffffff" \
    "ff00626f64790000000019ffffffff"
/* UPDATE docs SET title = 't2' WHERE id = 1 (body is TOASTed and unchanged) */
#define REC_DOCS_UPDATE "55000040154e00037400000001317400000002743275"

#endif
