import { useState } from "react";
import { api, errorMessage, type PublicUser } from "../../lib/api";
import { showConversation } from "../../lib/client";
import { Modal } from "../Modal";
import { Button, ErrorNote, Field } from "../ui";
import { PickedChips } from "./PickedChips";
import { UserSearch } from "./UserSearch";

export function NewGroupDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [picked, setPicked] = useState<PublicUser[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ids = new Set(picked.map((u) => u.id));
  const toggle = (u: PublicUser) => setPicked((p) => (ids.has(u.id) ? p.filter((x) => x.id !== u.id) : [...p, u]));

  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      showConversation(
        await api.createGroup(
          name.trim(),
          picked.map((u) => u.id),
        ),
      );
      onClose();
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  };

  return (
    <Modal
      title="New group"
      onClose={onClose}
      footer={
        <>
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button onClick={create} busy={busy} disabled={!name.trim()}>
            Create group
          </Button>
        </>
      }
    >
      <div className="space-y-4">
        {error && <ErrorNote>{error}</ErrorNote>}
        <Field
          label="Group name"
          value={name}
          maxLength={100}
          data-autofocus
          onChange={(e) => setName(e.target.value)}
          placeholder="Weekend trip"
        />
        <div className="space-y-2">
          <p className="text-sm font-medium text-zinc-700 dark:text-zinc-300">Members</p>
          <PickedChips users={picked} onRemove={toggle} />
          <UserSearch onPick={toggle} selected={ids} autoFocus={false} />
        </div>
      </div>
    </Modal>
  );
}
