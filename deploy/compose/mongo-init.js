// Run by the compose service `mongo-init` (as root, on mongo-1). Idempotent: initiates the
// replica set once, creates the application user, and on a re-run sets its password from
// MONGO_APP_PASSWORD (credential rotation: README "Rotating credentials").
try {
  rs.status();
} catch (e) {
  rs.initiate({
    _id: "rs0",
    members: [
      { _id: 0, host: "mongo-1:27017", priority: 2 },
      { _id: 1, host: "mongo-2:27017" },
      { _id: 2, host: "mongo-3:27017" },
    ],
  });
}
while (!db.hello().isWritablePrimary) {
  sleep(1000);
}
const lapor = db.getSiblingDB("lapor");
const password = process.env.MONGO_APP_PASSWORD;
if (!password) {
  throw new Error("MONGO_APP_PASSWORD is empty");
}
if (lapor.getUser("lapor") === null) {
  lapor.createUser({ user: "lapor", pwd: password, roles: [{ role: "readWrite", db: "lapor" }] });
  print("created user lapor");
} else {
  lapor.updateUser("lapor", { pwd: password });
  print("updated the password of user lapor");
}
